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
use omniroute_translate::StreamTranslator;
use tokio::time::{Instant, Sleep};

pub(crate) struct SseBody {
    upstream: ResponseBody,
    translator: StreamTranslator,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl SseBody {
    pub(crate) fn new(
        upstream: ResponseBody,
        translator: StreamTranslator,
        idle: Duration,
    ) -> Self {
        SseBody {
            upstream,
            translator,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            done: false,
        }
    }

    fn end(&mut self, mut out: Vec<u8>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.done = true;
        // Errors are already written to `out` as the client format's terminal event.
        let _ = self.translator.finish(&mut out);
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
