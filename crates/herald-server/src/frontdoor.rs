//! The front door: herald's own accept loop, so that nobody without a secret can stall it.
//! `axum::serve` has no header, body or idle timeout and no cap on connections, so a few
//! hundred sockets that never finish their headers (or never finish a 1 MiB body) used to
//! exhaust the process's file descriptors or its memory. Here every connection is registered
//! with the phase it is in:
//!
//! - **waiting**: no request in progress (new, or kept alive between requests); its headers
//!   must arrive within `header_timeout` of their first byte (or of the accept), and a kept
//!   alive connection is closed after `idle_timeout`;
//! - **reading**: a request's headers arrived and its body is still coming; the body must be
//!   complete within `body_timeout` (the webhook handler answers `408`; this is the backstop);
//! - **working**: the body is complete and herald is answering; never disturbed.
//!
//! Two budgets are shared by all connections: `max_connections` open sockets and
//! `max_buffered_bytes` of request bodies held in memory. When a newcomer would exceed one,
//! the connection that has been waiting or reading **longest** is closed to make room: an
//! honest sender (Sentry sends its headers and 5 KB body in a few milliseconds) is always
//! the newest, an attacker trickling bytes is always among the oldest. Only when every
//! connection is working does a newcomer get `503` with `Retry-After`, at once.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use herald_core::config::ServerConfig;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The front door's settings, from `server:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_buffered_bytes: usize,
}

/// File descriptors kept for everything but client connections: the database and its WAL,
/// side connections, sockets to the sinks, the listener, logs.
const RESERVED_FDS: u64 = 64;

/// The largest header block (and read buffer) one connection may hold. Sentry's headers are
/// well under 2 KiB; hyper's own default is about 400 KiB per connection, which a few hundred
/// connections streaming bodies would each fill.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

impl Limits {
    pub fn from_config(server: &ServerConfig) -> Limits {
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Limits {
            header_timeout: Duration::from_secs(server.header_timeout_seconds.max(1)),
            body_timeout: Duration::from_secs(server.body_timeout_seconds.max(1)),
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds.max(1)),
            max_connections: to_usize(server.max_connections.max(1)),
            max_buffered_bytes: to_usize(server.max_buffered_bytes.max(1)),
        }
    }

    /// `max_connections`, lowered to what the process's file limit leaves for clients (after
    /// raising the soft limit to the hard one, as most servers do), so the cap is reached
    /// before `accept` starts failing.
    pub fn fitted_to_file_limit(mut self) -> Limits {
        let fds = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(_) => match rlimit::getrlimit(rlimit::Resource::NOFILE) {
                Ok((soft, _)) => soft,
                Err(_) => return self,
            },
        };
        let room = fds.saturating_sub(RESERVED_FDS).max(16);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        if room < self.max_connections {
            tracing::warn!(
                max_connections = self.max_connections,
                file_limit = fds,
                used = room,
                "server.max_connections is above what the file limit allows; using the lower figure (raise `ulimit -n` for more)"
            );
            self.max_connections = room;
        }
        self
    }
}

/// What a connection is doing (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Waiting = 0,
    Reading = 1,
    Working = 2,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Waiting,
            1 => Phase::Reading,
            _ => Phase::Working,
        }
    }
}

/// One connection's state, shared by its task, its requests' bodies and the registry.
#[derive(Debug)]
struct Conn {
    id: u64,
    phase: AtomicU8,
    /// When the current phase began, in nanoseconds since the door's epoch.
    since: AtomicU64,
    /// While waiting: when the first byte of the next request arrived (0: none yet).
    head_started: AtomicU64,
    /// Whether the connection has finished a request (a kept-alive one idles longer).
    served: AtomicBool,
    /// Body bytes of the current request held against the shared budget (at least what
    /// arrived; more when the handler reserved its `Content-Length` up front).
    buffered: AtomicUsize,
    /// Body bytes of the current request that arrived so far.
    received: AtomicUsize,
    evicted: AtomicBool,
    kill: Notify,
}

/// The registry of open connections and the shared body budget.
#[derive(Debug)]
pub struct FrontDoor {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Registered connections not yet told to close; what `max_connections` counts.
    live: AtomicUsize,
    buffered: AtomicUsize,
}

/// Why a body could not be buffered: the shared budget is spent by requests herald is
/// already answering. The webhook handler answers `503` with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error(
    "herald holds as many request bodies as server.max_buffered_bytes allows; send again shortly"
)]
pub struct Shed;

/// The connection was closed to make room for another (see the module docs).
#[derive(Debug, thiserror::Error)]
#[error("the connection was closed to make room for another")]
pub struct Evicted;

impl FrontDoor {
    pub fn new(limits: Limits) -> Arc<FrontDoor> {
        Arc::new(FrontDoor {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            conns: Mutex::default(),
            live: AtomicUsize::new(0),
            buffered: AtomicUsize::new(0),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Body bytes held right now, over all requests.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// Connections open and not told to close.
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    fn now(&self) -> u64 {
        // Nanoseconds since the epoch, never 0 (0 means "not set" for `head_started`).
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// Registers a new connection, first closing the longest-waiting one when at the cap.
    /// `None`: at the cap with every connection working; the caller sheds the newcomer.
    pub fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if self.live.load(Ordering::Acquire) >= self.limits.max_connections {
            let victim = oldest(&conns, |c| {
                matches!(c.phase(), Phase::Waiting | Phase::Reading)
            })?;
            self.evict(&victim);
            crate::metrics::connection_shed("evicted");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            phase: AtomicU8::new(Phase::Waiting as u8),
            since: AtomicU64::new(self.now()),
            head_started: AtomicU64::new(0),
            served: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            received: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            kill: Notify::new(),
        });
        conns.insert(id, conn.clone());
        self.live.fetch_add(1, Ordering::AcqRel);
        Some(Ticket {
            door: self.clone(),
            conn,
        })
    }

    /// Closes the longest-waiting connection, if any (the listener ran out of descriptors).
    fn evict_oldest(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        match oldest(&conns, |c| {
            matches!(c.phase(), Phase::Waiting | Phase::Reading)
        }) {
            Some(victim) => {
                self.evict(&victim);
                true
            }
            None => false,
        }
    }

    /// Tells a connection to close and takes back its budget at once (its task may take a
    /// moment to end).
    fn evict(&self, conn: &Conn) {
        if conn.evicted.swap(true, Ordering::AcqRel) {
            return;
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
        let held = conn.buffered.swap(0, Ordering::AcqRel);
        self.buffered.fetch_sub(held, Ordering::AcqRel);
        conn.kill.notify_one();
    }

    /// Holds `n` more body bytes for `conn`, closing the longest-reading other connections
    /// until they fit.
    fn reserve(&self, conn: &Conn, n: usize) -> Result<(), BodyError> {
        loop {
            if conn.evicted.load(Ordering::Acquire) {
                return Err(BodyError::Evicted(Evicted));
            }
            let held = self.buffered.load(Ordering::Acquire);
            if held.saturating_add(n) <= self.limits.max_buffered_bytes {
                if self
                    .buffered
                    .compare_exchange(held, held + n, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    conn.buffered.fetch_add(n, Ordering::AcqRel);
                    return Ok(());
                }
                continue;
            }
            let victim = {
                let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
                oldest(&conns, |c| {
                    c.id != conn.id
                        && c.phase() == Phase::Reading
                        && c.buffered.load(Ordering::Acquire) > 0
                })
            };
            match victim {
                Some(victim) => {
                    self.evict(&victim);
                    crate::metrics::connection_shed("evicted");
                }
                None => {
                    crate::metrics::connection_shed("body_budget");
                    return Err(BodyError::Shed(Shed));
                }
            }
        }
    }

    /// Bytes arrived for `conn`'s body: whatever is beyond its reservation is reserved now.
    fn arrived(&self, conn: &Conn, n: usize) -> Result<(), BodyError> {
        let received = conn.received.fetch_add(n, Ordering::AcqRel) + n;
        let held = conn.buffered.load(Ordering::Acquire);
        if received > held {
            self.reserve(conn, received - held)?;
        }
        Ok(())
    }

    fn release(&self, conn: &Conn) {
        conn.received.store(0, Ordering::Release);
        let held = conn.buffered.swap(0, Ordering::AcqRel);
        self.buffered.fetch_sub(held, Ordering::AcqRel);
    }

    fn forget(&self, conn: &Conn) {
        self.release(conn);
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.remove(&conn.id);
        if !conn.evicted.swap(true, Ordering::AcqRel) {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// When the connection must have made progress, for its current phase; `None` while it
    /// is working (it is checked again later).
    fn deadline(&self, conn: &Conn) -> Option<Instant> {
        let since = conn.since.load(Ordering::Acquire);
        match conn.phase() {
            Phase::Waiting => {
                let started = conn.head_started.load(Ordering::Acquire);
                Some(if started != 0 {
                    self.instant(started) + self.limits.header_timeout
                } else if conn.served.load(Ordering::Acquire) {
                    self.instant(since) + self.limits.idle_timeout
                } else {
                    self.instant(since) + self.limits.header_timeout
                })
            }
            // The handler answers 408 at `body_timeout`; this only closes connections whose
            // handler does not read (or cannot answer), a little later.
            Phase::Reading => {
                Some(self.instant(since) + self.limits.body_timeout + Duration::from_secs(1))
            }
            Phase::Working => None,
        }
    }
}

/// The connection that has been in an evictable phase longest.
fn oldest(conns: &HashMap<u64, Arc<Conn>>, eligible: impl Fn(&Conn) -> bool) -> Option<Arc<Conn>> {
    conns
        .values()
        .filter(|c| !c.evicted.load(Ordering::Acquire) && eligible(c))
        .min_by_key(|c| (c.since.load(Ordering::Acquire), c.id))
        .cloned()
}

impl Conn {
    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    fn enter(&self, phase: Phase, now: u64) {
        self.since.store(now, Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// A connection's handle on the door: registered by [`FrontDoor::admit`], forgotten when
/// dropped. Requests carry a clone in their extensions.
#[derive(Clone, Debug)]
pub struct Ticket {
    door: Arc<FrontDoor>,
    conn: Arc<Conn>,
}

impl Ticket {
    fn begin_request(&self) {
        self.conn.head_started.store(0, Ordering::Release);
        self.conn.enter(Phase::Reading, self.door.now());
    }

    fn body_done(&self) {
        if self.conn.phase() == Phase::Reading {
            self.conn.enter(Phase::Working, self.door.now());
        }
    }

    fn end_request(&self) {
        self.door.release(&self.conn);
        self.conn.served.store(true, Ordering::Release);
        self.conn.head_started.store(0, Ordering::Release);
        self.conn.enter(Phase::Waiting, self.door.now());
    }

    /// Bytes arrived: while waiting, the first one starts the header clock.
    fn saw_bytes(&self) {
        if self.conn.phase() == Phase::Waiting {
            let _ = self.conn.head_started.compare_exchange(
                0,
                self.door.now(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Reserves `n` body bytes before they arrive, so that the handler can hold the body in
    /// one allocation of its announced size; with the budget spent by requests herald is
    /// answering, the request is shed (`503`).
    pub fn reserve(&self, n: usize) -> Result<(), BodyError> {
        let held = self.conn.buffered.load(Ordering::Acquire);
        if n > held {
            self.door.reserve(&self.conn, n - held)?;
        }
        Ok(())
    }

    async fn killed(&self) {
        self.conn.kill.notified().await;
    }
}

/// The guard a connection task holds: dropping it forgets the connection.
#[derive(Debug)]
struct Registered(Ticket);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.door.forget(&self.0.conn);
    }
}

/// Why a request body stopped: the webhook handler tells these apart to answer `503`.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Shed(Shed),
    #[error(transparent)]
    Evicted(Evicted),
    #[error(transparent)]
    Http(hyper::Error),
}

/// A request body that counts its bytes against the shared budget and marks its connection
/// working once complete.
struct Tracked {
    inner: Incoming,
    ticket: Ticket,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && let Err(e) = this.ticket.door.arrived(&this.ticket.conn, data.len())
                {
                    return Poll::Ready(Some(Err(e)));
                }
                if this.inner.is_end_stream() {
                    this.ticket.body_done();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(BodyError::Http(e)))),
            None => {
                this.ticket.body_done();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting the first byte of each request's headers.
struct Watched {
    stream: TcpStream,
    ticket: Ticket,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = ready!(Pin::new(&mut this.stream).poll_read(cx, buf));
        if buf.filled().len() > before {
            this.ticket.saw_bytes();
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `stopped` is set; then stops accepting, lets each
/// connection finish the request it is in, and returns when all are closed (the caller
/// bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    door: Arc<FrontDoor>,
    stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = stopped.clone();
    loop {
        // Reap finished connection tasks so the set does not grow with the traffic.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => None,
            accepted = listener.accept() => Some(accepted),
        };
        let Some(accepted) = accepted else { break };
        match accepted {
            Ok((stream, _)) => match door.admit() {
                Some(ticket) => {
                    connections.spawn(connection(stream, ticket, app.clone(), stopped.clone()));
                }
                None => {
                    crate::metrics::connection_shed("busy");
                    connections.spawn(shed(stream));
                }
            },
            Err(e) => {
                // Out of descriptors: make room at once rather than sleeping while the
                // attacker keeps them; with nothing to close, back off briefly.
                let exhausted = matches!(e.raw_os_error(), Some(23 | 24));
                if exhausted && door.evict_oldest() {
                    crate::metrics::connection_shed("evicted");
                    tokio::task::yield_now().await;
                } else {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection: HTTP/1.1 with keep-alive, closed when it overstays its phase, when
/// the door evicts it, or (gracefully) at shutdown.
async fn connection(
    stream: TcpStream,
    ticket: Ticket,
    app: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let registered = Registered(ticket.clone());
    let io = TokioIo::new(Watched {
        stream,
        ticket: ticket.clone(),
    });
    let svc_ticket = ticket.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let ticket = svc_ticket.clone();
        let app = app.clone();
        async move {
            ticket.begin_request();
            let (mut parts, incoming) = request.into_parts();
            if incoming.is_end_stream() {
                ticket.body_done();
            }
            parts.extensions.insert(ticket.clone());
            let body = Body::new(Tracked {
                inner: incoming,
                ticket: ticket.clone(),
            });
            let response = app.oneshot(Request::from_parts(parts, body)).await;
            ticket.end_request();
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).max_buf_size(MAX_HEADER_BYTES);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let door = ticket.door.clone();
    let mut stopping = *stopped.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = door.deadline(&ticket.conn);
        let recheck = Instant::now() + door.limits.idle_timeout;
        tokio::select! {
            _ = conn.as_mut() => break,
            () = ticket.killed() => break,
            _ = stopped.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline.unwrap_or(recheck)) => {
                // The phase may have moved on since the deadline was taken.
                if door.deadline(&ticket.conn).is_some_and(|d| d <= Instant::now()) {
                    crate::metrics::connection_shed("timeout");
                    break;
                }
            }
        }
    }
    drop(registered);
}

/// The answer to a connection that found every slot working: `503` at once, then close.
async fn shed(mut stream: TcpStream) {
    const BODY: &str = "{\"error\":\"herald is at server.max_connections; send again shortly\"}";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nsentry-hook-error: overloaded\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests;
