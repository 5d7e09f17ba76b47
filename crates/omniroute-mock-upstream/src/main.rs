//! `omniroute-mock-upstream [ADDR]`: runs the mock until killed (default `127.0.0.1:18080`).

use std::net::SocketAddr;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let addr: SocketAddr =
        match std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18080".into()).parse() {
            Ok(a) => a,
            Err(e) => {
                #[expect(clippy::print_stderr, reason = "a binary reporting its usage error")]
                {
                    eprintln!("omniroute-mock-upstream: bad address: {e}");
                }
                return std::process::ExitCode::from(64);
            }
        };
    match omniroute_mock_upstream::Mock::start_on(addr).await {
        Ok(mock) => {
            #[expect(clippy::print_stdout, reason = "the address is the binary's output")]
            {
                println!("listening on {}", mock.addr);
            }
            std::future::pending::<()>().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            #[expect(clippy::print_stderr, reason = "a binary reporting a start-up failure")]
            {
                eprintln!("omniroute-mock-upstream: {e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
