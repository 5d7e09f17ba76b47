//! The streaming response body: upstream frames in, translated SSE out, one event batch per
//! poll. Nothing is buffered beyond the events one upstream chunk completes, a quiet upstream
//! is cut off after the idle timeout with a terminal event in the client's format, and when the
//! client goes away hyper drops this body, which drops the upstream body and so cancels the
//! upstream request at once.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use omniroute_providers::ResponseBody;
use omniroute_translate::{StreamError, StreamTranslator};
use tokio::time::{Instant, Sleep};

use crate::ledger::Ledger;

pub(crate) struct SseBody {
    upstream: ResponseBody,
    translator: StreamTranslator,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    done: bool,
    /// Written once, when the stream ends or the client leaves.
    ledger: Option<Ledger>,
}

impl SseBody {
    pub(crate) fn new(
        upstream: ResponseBody,
        translator: StreamTranslator,
        idle: Duration,
        ledger: Ledger,
    ) -> Self {
        SseBody {
            upstream,
            translator,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            done: false,
            ledger: Some(ledger),
        }
    }

    fn record(&mut self, error: Option<&str>) {
        if let Some(ledger) = self.ledger.take() {
            ledger.finish(200, self.translator.usage(), self.translator.usage_is_estimate(), error);
        }
    }

    fn end(&mut self, mut out: Vec<u8>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.done = true;
        // Errors are already written to `out` as the client format's terminal event.
        let label = match self.translator.finish(&mut out) {
            Ok(()) => None,
            Err(StreamError::Truncated) => Some("stream_truncated"),
            Err(StreamError::InvalidEvent(_)) => Some("stream_invalid"),
            Err(StreamError::Upstream(_)) => Some("stream_upstream_error"),
        };
        if let Some(l) = self.ledger.as_mut() {
            l.captured(&out);
        }
        self.record(label);
        if out.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue }; // trailers
                    let mut out = Vec::with_capacity(data.len() + data.len() / 2);
                    this.translator.feed(&data, &mut out);
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    if this.translator.is_finished() && !this.translator.is_passthrough() {
                        return this.end(out);
                    }
                    if !out.is_empty() {
                        if let Some(l) = this.ledger.as_mut() {
                            l.first_byte();
                            l.captured(&out);
                        }
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return this.end(Vec::new()),
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        return this.end(Vec::new());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for SseBody {
    /// A client that leaves mid-stream still gets its row, with what the stream had reported.
    fn drop(&mut self) {
        self.record(Some("client_closed"));
    }
}
