//! The operator's console at `/ui/`: history, an alert's whole story, dead letters, silences,
//! the route tree with a tester, and the sinks, as HTML pages rendered here. It exists only
//! when the admin API does (`server.admin_token` set); otherwise every `/ui` path answers `404`.
//!
//! Pages are built with `maud`, which escapes every interpolated value, so alert text (hostile
//! by assumption) can only ever render as text. Every action is a plain HTML form; the small
//! script in `assets/console.js` only enhances (local times, refreshing a page that is
//! waiting on a delivery). CSS and script are embedded in the binary and served from
//! `/ui/assets/`, which the Content-Security-Policy (`default-src 'none'; script-src 'self';
//! ...`) allows, and nothing inline.
//!
//! Sign-in takes the admin token and sets an `HttpOnly; SameSite=Strict` session cookie
//! scoped to the console's path ([`auth`]). Every request other than `GET` or `HEAD` must carry
//! the session's CSRF token in its `csrf` form field, and its `Origin`, when sent, must be
//! this host (`X-Forwarded-Host` when a proxy sets it, else `Host`); the gate checks both
//! before any handler runs, so no handler can forget. Behind a reverse proxy that serves the
//! console under a prefix, `X-Forwarded-Prefix` (such as `/herald`) is put in front of every
//! link and the cookie's path, and `X-Forwarded-Proto: https` makes the cookie `Secure`.

pub mod auth;
mod ops;
mod pages;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use crate::AppState;

pub use ops::sample_alert;

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The largest form the gate reads (a route-test payload is the largest).
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// The console's routes, all behind one gate (session, Origin, CSRF) that also adds the
/// security headers.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/ui", get(ops::overview))
        .route("/ui/", get(ops::overview))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/console.css", get(css))
        .route("/ui/assets/console.js", get(js))
        .route("/ui/alerts", get(pages::alerts))
        .route("/ui/alerts/{id}", get(pages::alert))
        .route("/ui/dead", get(ops::dead))
        .route("/ui/dead/retry", post(ops::retry_matching))
        .route("/ui/dead/{id}/retry", post(ops::retry_one))
        .route("/ui/silences", get(ops::silences).post(ops::create_silence))
        .route("/ui/silences/{id}/expire", post(ops::expire_silence))
        .route("/ui/routes", get(ops::routes))
        .route("/ui/routes/test", post(ops::route_test))
        .route("/ui/sinks", get(ops::sinks))
        .route("/ui/sinks/{name}/test", post(ops::send_test))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

/// What the gate hands each page: where the console lives and the session's CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    /// The console's path as the browser sees it (`/ui`, or `/herald/ui` behind a prefix).
    pub base: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

impl Session {
    /// A link to `path` under the console (`path` starts with `/`, or is empty).
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Whether the path needs no session: the sign-in page and the assets.
fn public(path: &str) -> bool {
    path == "/ui/login" || path.starts_with("/ui/assets/")
}

/// The prefix a proxy says it serves herald under, when it is a plain path.
fn prefix(headers: &HeaderMap) -> String {
    let Some(p) = headers
        .get("x-forwarded-prefix")
        .and_then(|v| v.to_str().ok())
    else {
        return String::new();
    };
    let p = p.trim().trim_end_matches('/');
    let plain = p.starts_with('/')
        && p.len() <= 200
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if plain { p.to_owned() } else { String::new() }
}

/// Whether an `Origin` header, when present, names this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((host, authority), (Some(h), Some(a)) if h.eq_ignore_ascii_case(a))
}

/// Runs before every console handler: the console exists only with an admin token; a page
/// needs a valid session (else the sign-in page); a state change needs the same origin and
/// the session's CSRF token. Adds the security headers to whatever is answered.
async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = state.config();
    let Some(token) = config.server.admin_token.as_ref() else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let keys = auth::Keys::from_token(token.expose());
    drop(config);
    let base = format!("{}/ui", prefix(request.headers()));
    let path = request.uri().path().to_owned();
    let now = state.clock().now().as_second();
    let cookie = request
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| auth::cookie(h, auth::COOKIE))
        .filter(|c| keys.verify(c, now))
        .map(str::to_owned);
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes && !same_origin(request.headers()) {
        return secured(refusal(
            StatusCode::FORBIDDEN,
            "this request came from another site (its Origin is not this host); use the console's own forms",
        ));
    }
    let mut request = request;
    match cookie {
        None if public(&path) => {
            request.extensions_mut().insert(Session {
                base,
                csrf: String::new(),
            });
        }
        None if changes => {
            return secured(refusal(
                StatusCode::UNAUTHORIZED,
                "not signed in, or the session ended; sign in again at /ui/login",
            ));
        }
        None => return secured(Redirect::to(&format!("{base}/login")).into_response()),
        Some(cookie) => {
            if changes && !public(&path) {
                let (parts, body) = request.into_parts();
                let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        return secured(refusal(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "the form is too large (at most 2 MiB)",
                        ));
                    }
                };
                let given = form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == "csrf")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                if !keys.csrf_matches(&cookie, &given) {
                    tracing::warn!(path = %path, "console: a state change without this session's CSRF token was refused");
                    return secured(refusal(
                        StatusCode::FORBIDDEN,
                        "this form's CSRF token is missing or not this session's; reload the page and send it again",
                    ));
                }
                request = Request::from_parts(parts, Body::from(bytes));
            }
            request.extensions_mut().insert(Session {
                base,
                csrf: keys.csrf(&cookie),
            });
        }
    }
    secured(next.run(request).await)
}

/// Adds the console's security headers.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Searches put ids in URLs; they stay on this site. Not `no-referrer`: with it, browsers
    // send `Origin: null` on the console's own forms, which the gate must refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A plain-text refusal (the gate answers before any page is chosen).
fn refusal(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

/// The navigation entries: path under the console and label.
const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/alerts", "Alerts"),
    ("/dead", "Dead letters"),
    ("/silences", "Silences"),
    ("/routes", "Routes"),
    ("/sinks", "Sinks"),
];

/// A whole page: head, navigation (with sign-out) and `content`.
pub fn layout(session: &Session, title: &str, active: &str, content: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · herald" }
                link rel="stylesheet" href=(session.link("/assets/console.css"));
                script src=(session.link("/assets/console.js")) defer {}
            }
            body {
                header.top {
                    a.brand href=(session.link("/")) { "herald" }
                    nav {
                        @for (path, label) in NAV {
                            a href=(session.link(path)) class=[(path == active).then_some("active")] { (label) }
                        }
                    }
                    @if !session.csrf.is_empty() {
                        form.logout method="post" action=(session.link("/logout")) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    Html(page.into_string())
}

/// A page that says what went wrong, with its status.
pub fn problem(session: &Session, status: StatusCode, message: &str) -> Response {
    let content = html! { p.error { (message) } };
    (status, layout(session, "Cannot do that", "", content)).into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        JS,
    )
        .into_response()
}

fn login_form(session: &Session, error: Option<&str>) -> Html<String> {
    let content = html! {
        @if let Some(error) = error { p.error #login-error { (error) } }
        form.login method="post" action=(session.link("/login")) {
            label for="token" { "Admin token (" code { "server.admin_token" } ")" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            button type="submit" { "Sign in" }
        }
    };
    layout(session, "Sign in", "", content)
}

async fn login_page(axum::Extension(session): axum::Extension<Session>) -> Html<String> {
    login_form(&session, None)
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(
    State(state): State<AppState>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let given = form.map(|f| f.0.token).unwrap_or_default();
    let config = state.config();
    let Some(token) = config.server.admin_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !auth::token_matches(token.expose(), given.trim()) {
        tracing::warn!("console: sign-in with a wrong token refused");
        return (
            StatusCode::UNAUTHORIZED,
            login_form(
                &session,
                Some("wrong token: give the server.admin_token of this herald"),
            ),
        )
            .into_response();
    }
    let keys = auth::Keys::from_token(token.expose());
    let value = keys.issue(state.clock().now().as_second(), fastrand::u64(..));
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path={}; Max-Age={}{}",
        auth::COOKIE,
        session.base,
        auth::SESSION_SECONDS,
        if secure { "; Secure" } else { "" }
    );
    tracing::info!("console: signed in");
    let mut response = Redirect::to(&session.link("/")).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout(axum::Extension(session): axum::Extension<Session>) -> Response {
    let cookie = format!(
        "{}=; HttpOnly; SameSite=Strict; Path={}; Max-Age=0",
        auth::COOKIE,
        session.base
    );
    let mut response = Redirect::to(&session.link("/login")).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// A time as operators read it, to the second, in UTC (the script shows it local too).
pub fn when(ts: jiff::Timestamp) -> Markup {
    let text = ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(ts.to_string()) { (text) } }
}

/// A query string from pairs, empty values left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    let q = out.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

#[cfg(test)]
mod tests;
