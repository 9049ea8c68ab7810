//! Sends one checked request for a component: resolves the host, refuses
//! addresses the [`AddressPolicy`] forbids, connects to the address it
//! checked (so a second DNS answer cannot swap it), speaks TLS for https,
//! and caps and times the response body. Redirects are never followed: a
//! 3xx goes back to the component as it came.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::budget::{CallBudget, InFlight};
use super::net::AddressPolicy;
use crate::config::limits::defaults;

/// Why a send failed before any answer: either a policy refusal (to count
/// and report) or an ordinary network error (the guest decides).
pub enum SendError {
    Refused(String),
    Http(HttpError),
}

impl From<HttpError> for SendError {
    fn from(e: HttpError) -> Self {
        SendError::Http(e)
    }
}

static TLS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
});

/// Sends `req` (absolute URI, body already buffered).
pub async fn send(
    req: http::Request<Full<Bytes>>,
    addresses: AddressPolicy,
    timeouts: RequestOptions,
    max_response_bytes: u64,
    budget: Arc<CallBudget>,
    slot: Arc<InFlight>,
) -> Result<http::Response<WasiBody>, SendError> {
    let uri = req.uri().clone();
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let connect_timeout = timeouts
        .connect_timeout
        .unwrap_or(Duration::from_secs(defaults::CONNECT_TIMEOUT_SECS));

    let resolved: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            connect_timeout,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| HttpError::DnsTimeout)?
        .map_err(|_| HttpError::DnsError {
            rcode: None,
            info_code: None,
        })?
        .collect(),
    };
    if resolved.is_empty() {
        return Err(HttpError::DestinationNotFound.into());
    }
    let addrs = addresses.filter(&resolved).map_err(|(addr, class)| {
        SendError::Refused(format!("{host} resolves to {}, {class}", addr.ip()))
    })?;

    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(&addrs[..]))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            _ => HttpError::Connect(e),
        })?;
    let _ = stream.set_nodelay(true);

    let (parts, body) = req.into_parts();
    let mut req = http::Request::from_parts(parts, body);
    // On the wire the request line carries only the path.
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let first_byte = timeouts
        .first_byte_timeout
        .unwrap_or(Duration::from_secs(defaults::FIRST_BYTE_TIMEOUT_SECS));
    let response = if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| HttpError::TlsCertificateError)?;
        let tls = tokio::time::timeout(
            connect_timeout,
            tokio_rustls::TlsConnector::from(TLS.clone()).connect(name, stream),
        )
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Tls)?;
        exchange(TokioIo::new(tls), req, connect_timeout, first_byte).await?
    } else {
        exchange(TokioIo::new(stream), req, connect_timeout, first_byte).await?
    };
    let between = timeouts
        .between_bytes_timeout
        .unwrap_or(Duration::from_secs(defaults::BETWEEN_BYTES_TIMEOUT_SECS));
    Ok(response.map(|incoming| {
        CappedBody {
            inner: incoming,
            seen: 0,
            cap: max_response_bytes,
            idle: Box::pin(tokio::time::sleep(between)),
            between,
            budget,
            slot: Some(slot),
        }
        .boxed_unsync()
    }))
}

async fn exchange<IO>(
    io: IO,
    req: http::Request<Full<Bytes>>,
    handshake_timeout: Duration,
    first_byte: Duration,
) -> Result<http::Response<hyper::body::Incoming>, HttpError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = tokio::time::timeout(
        handshake_timeout,
        hyper::client::conn::http1::Builder::new().handshake(io),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed with an error: {e}");
        }
    });
    tokio::time::timeout(first_byte, sender.send_request(req))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(HttpError::from)
}

/// A response body that fails once it passes `cap` bytes, or when no
/// data arrives for `between`.
struct CappedBody {
    inner: hyper::body::Incoming,
    seen: u64,
    cap: u64,
    idle: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
    /// Where a breached cap is recorded, so the call ends with it.
    budget: Arc<CallBudget>,
    /// The request's in-flight slot, released at the body's end (or drop).
    slot: Option<Arc<InFlight>>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.seen += data.len() as u64;
                    if self.seen > self.cap {
                        self.slot = None;
                        self.budget.breach(format!(
                            "a response body passed the cap of {} MiB (limits.max_response_mib)",
                            self.cap >> 20
                        ));
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            self.cap,
                        )))));
                    }
                }
                let deadline = tokio::time::Instant::now() + self.between;
                self.idle.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.slot = None;
                Poll::Ready(Some(Err(HttpError::from(e))))
            }
            Poll::Ready(None) => {
                self.slot = None;
                Poll::Ready(None)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
