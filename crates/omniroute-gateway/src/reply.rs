//! Responses the gateway writes itself, and the one place errors become HTTP responses in the
//! client's own API shape.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use omniroute_translate::{ErrorKind, Format, error_body};

use crate::body::SseBody;

/// Every response body the gateway sends.
pub(crate) enum GatewayBody {
    Full(Option<Bytes>),
    Stream(Box<SseBody>),
    /// A body another library produces (the MCP and A2A transports).
    Other(http_body_util::combinators::BoxBody<Bytes, Infallible>),
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            GatewayBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            GatewayBody::Stream(s) => Pin::new(s.as_mut()).poll_frame(cx),
            GatewayBody::Other(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Full(b) => b.is_none(),
            GatewayBody::Stream(_) => false,
            GatewayBody::Other(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            GatewayBody::Full(None) => SizeHint::with_exact(0),
            GatewayBody::Stream(_) => SizeHint::default(),
            GatewayBody::Other(b) => b.size_hint(),
        }
    }
}

pub(crate) type Reply = Response<GatewayBody>;

pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(GatewayBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn sse(body: SseBody) -> Reply {
    let mut r = Response::new(GatewayBody::Stream(Box::new(body)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// An error the gateway raises, in the client's format.
pub(crate) fn error(format: Format, kind: ErrorKind, message: &str) -> Reply {
    error_with_status(format, kind.status(), kind, message)
}

pub(crate) fn error_with_status(
    format: Format,
    status: u16,
    kind: ErrorKind,
    message: &str,
) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, error_body(format, kind, message))
}

/// A response whose body another library made.
pub(crate) fn other(
    r: http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>,
) -> Reply {
    r.map(GatewayBody::Other)
}
