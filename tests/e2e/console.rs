//! The operator's console in a real browser: headless Chromium driven through chromedriver
//! (each test starts its own on a free port) against the real `herald serve`. Sign-in and a
//! wrong token; an alert sent to a failing sink shows its attempts with their status codes,
//! and its dead letter retried from the console is delivered (one by one, and all a filter
//! matches after a confirmation with the count); a silence made in the console holds back
//! the next matching alert until it is expired there; the route tester explains a miss; "send test" shows the
//! provider's answer; a hostile alert title renders
//! as text and runs no script. The CSRF and Origin checks, and the cookie and links behind a
//! proxy, are plain HTTP with the session's cookie. `scripts/test` installs Debian's `chromium` and `chromium-driver` when missing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::standin::{Herald, SECRET, StandIn, event_alert, poll_until, post_signed};

const TOKEN: &str = "e2e-console-admin-token";
const LIMIT: Duration = Duration::from_secs(20);

/// One route per `alert_id` tag family: `quiet*` and everything else go to the stand-in;
/// `payments-api` alerts only (a project condition the tester can miss).
fn config(url: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook:\n    type: webhook\n    url: \"{url}\"\n    retry: {{ max_attempts: 2, min_backoff_seconds: 1, max_backoff_seconds: 1 }}\nroutes:\n  - name: payments\n    match: {{ project: payments-api }}\n    sinks: [hook]\n"
    )
}

/// chromedriver on a free loopback port and a headless Chromium session through it.
struct Browser {
    client: Client,
    _driver: Stopper,
}

impl Browser {
    async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs Debian's chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let up = poll_until(LIMIT, || {
            let status = http.get(format!("{url}/status")).send();
            async move { status.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        assert!(up, "chromedriver did not answer on {url} within {LIMIT:?}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session starts");
        let session = client.session_id().await.ok().flatten();
        Browser {
            client,
            _driver: Stopper {
                driver,
                port,
                session,
            },
        }
    }

    /// Ends the browser session (Chromium quits with it).
    async fn close(mut self) {
        // Closed here; the stopper has no session left to end.
        self._driver.session = None;
        let _ = self.client.clone().close().await;
    }

    /// The text of the first element `css` selects, once `check` holds for it: a click that
    /// submits a form returns before the next page is there, so the old page (or an element
    /// gone stale with it) is read again until the new one answers, for at most [`LIMIT`].
    async fn wait_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut last = String::new();
        loop {
            tick.tick().await;
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if check(&text) {
                    return text;
                }
                last = text;
            }
            if start.elapsed() > LIMIT {
                panic!(
                    "{css} never showed what was wanted (last: {last:?}); the page:\n{}",
                    self.client.source().await.unwrap_or_default()
                );
            }
        }
    }

    /// The text of the first element `css` selects on the page now loaded.
    async fn text(&self, css: &str) -> String {
        self.wait_text(css, |_| true).await
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn sign_in(&self, h: &Herald) {
        self.client.goto(&h.url("/ui/login")).await.unwrap();
        self.fill("#token", TOKEN).await;
        self.click("form.login button").await;
        self.wait_text("main h1", |t| t == "Overview").await;
    }
}

/// Ends the browser session and chromedriver when a test ends, passed or not: killing
/// chromedriver alone would leave its Chromium running. The session is ended with a plain
/// `DELETE` written on a socket, since a panicking test's runtime cannot be awaited here.
struct Stopper {
    driver: Child,
    port: u16,
    session: Option<String>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Some(session) = &self.session
            && let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", self.port))
        {
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            );
            if socket.write_all(request.as_bytes()).is_ok() {
                // chromedriver answers once Chromium has quit; the first bytes of its answer
                // are enough (it may keep the connection open).
                let _ = socket.read(&mut [0; 64]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Debian's Chromium, wherever the system has it.
fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
}

/// Posts an `event_alert` for `alert_id` and returns herald's alert id.
async fn send(h: &Herald, alert_id: &str) -> String {
    let r = post_signed(
        &reqwest::Client::new(),
        h,
        Some("event_alert"),
        &event_alert(alert_id),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The status of the alert's first delivery, through the admin API.
async fn delivery_status(h: &Herald, alert: &str) -> String {
    let doc = h
        .admin_json(&format!("/api/v1/alerts/{alert}/explain"), TOKEN)
        .await;
    doc["deliveries"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn until_status(h: &Herald, alert: &str, wanted: &str) {
    let ok = poll_until(LIMIT, || async {
        delivery_status(h, alert).await == wanted
    })
    .await;
    assert!(ok, "alert {alert} never became {wanted}; log:\n{}", h.log());
}

async fn start(standin: &StandIn) -> (tempfile::TempDir, Herald) {
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&standin.url("/hook"))).await;
    (dir, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_works_and_a_wrong_token_is_refused() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let b = Browser::start().await;
    // A page without a session leads to the sign-in form.
    b.client.goto(&h.url("/ui/alerts")).await.unwrap();
    assert_eq!(b.text("main h1").await, "Sign in");
    b.fill("#token", "not-the-token").await;
    b.click("form.login button").await;
    b.wait_text("#login-error", |t| t.contains("wrong token"))
        .await;
    b.client.goto(&h.url("/ui/alerts")).await.unwrap();
    assert_eq!(
        b.text("main h1").await,
        "Sign in",
        "a wrong token gave a session"
    );
    b.sign_in(&h).await;
    b.client.goto(&h.url("/ui/alerts")).await.unwrap();
    assert_eq!(b.text("main h1").await, "Alerts");
    // Signing out ends it.
    b.click("form.logout button").await;
    b.wait_text("main h1", |t| t == "Sign in").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_shows_its_attempts_and_a_dead_letter_retried_from_the_console_is_delivered()
{
    let standin = StandIn::start().await;
    standin.script(|_, _| (503, None));
    let (_dir, h) = start(&standin).await;
    let first = send(&h, "first").await;
    let second = send(&h, "second").await;
    until_status(&h, &first, "dead").await;
    until_status(&h, &second, "dead").await;

    let b = Browser::start().await;
    b.sign_in(&h).await;
    b.client
        .goto(&h.url(&format!("/ui/alerts/{first}")))
        .await
        .unwrap();
    let statuses = b
        .client
        .find_all(Locator::Css("#deliveries table.attempts td.status"))
        .await
        .unwrap();
    let mut codes = Vec::new();
    for s in statuses {
        codes.push(s.text().await.unwrap());
    }
    assert_eq!(codes, ["503", "503"], "each attempt with its status code");
    assert_eq!(b.text("#deliveries div.delivery span.status").await, "dead");

    // Retry one from the dead-letter page once the sink works again.
    standin.script(|_, _| (200, None));
    b.client.goto(&h.url("/ui/dead")).await.unwrap();
    let delivery = h
        .admin_json(&format!("/api/v1/alerts/{first}/explain"), TOKEN)
        .await["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.click(&format!("tr[data-delivery=\"{delivery}\"] button.retry"))
        .await;
    b.wait_text("#retried", |t| t.contains(&delivery)).await;
    until_status(&h, &first, "delivered").await;

    // The alert's page now shows the third attempt, delivered.
    b.client
        .goto(&h.url(&format!("/ui/alerts/{first}")))
        .await
        .unwrap();
    assert_eq!(
        b.text("#deliveries div.delivery span.status").await,
        "delivered"
    );
    let rows = b
        .client
        .find_all(Locator::Css("#deliveries tr.attempt"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    // The screenshot the README shows: an alert that failed twice and was retried.
    // Written over docs/console.png only when asked (HERALD_UPDATE_SCREENSHOT=1), so a test
    // run leaves the tree as it found it; taken and checked as a PNG every time.
    let png = b.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the browser returned a PNG");
    if std::env::var_os("HERALD_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(crate::support::repo().join("docs/console.png"), png).unwrap();
    }

    // All that match: the confirmation shows the count, then the retry happens.
    b.client.goto(&h.url("/ui/dead")).await.unwrap();
    b.click("#retry-matching").await;
    b.wait_text("#confirm-count", |t| t.starts_with("1 dead deliveries"))
        .await;
    b.click("#confirm-retry").await;
    b.wait_text("#retried", |t| t.starts_with("1 deliveries"))
        .await;
    until_status(&h, &second, "delivered").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_made_in_the_console_holds_back_the_next_matching_alert() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let before = send(&h, "noisy").await;
    until_status(&h, &before, "delivered").await;

    let b = Browser::start().await;
    b.sign_in(&h).await;
    b.client.goto(&h.url("/ui/silences")).await.unwrap();
    b.fill("textarea[name=matchers]", "tags.alert_id=noisy")
        .await;
    b.fill("input[name=duration]", "1h").await;
    b.fill("input[name=comment]", "deploy in progress").await;
    // The preview shows the recent alert it would have matched.
    b.click("#preview").await;
    b.wait_text("#silence-preview h2", |t| {
        t.starts_with("Would have matched 1 ")
    })
    .await;
    b.click("#create-silence").await;
    b.wait_text("#active-silences", |t| t.contains("deploy in progress"))
        .await;

    let after = send(&h, "noisy").await;
    let held = poll_until(LIMIT, || async {
        let doc = h
            .admin_json(&format!("/api/v1/alerts/{after}/explain"), TOKEN)
            .await;
        doc["held_back"][0]["outcome"] == "silenced"
    })
    .await;
    assert!(held, "the alert after the silence was not held back");
    assert!(
        !standin.alert_ids().is_empty() && standin.hits().len() == 1,
        "only the alert before the silence reached the sink"
    );
    b.client
        .goto(&h.url(&format!("/ui/alerts/{after}")))
        .await
        .unwrap();
    assert!(b.text("#held-back td.outcome").await.contains("silenced"));

    // Expired from the console, the silence no longer holds anything back.
    b.client.goto(&h.url("/ui/silences")).await.unwrap();
    b.click("#active-silences button.expire").await;
    b.wait_text("#active-silences", |t| t.contains("No silence."))
        .await;
    let last = send(&h, "noisy").await;
    until_status(&h, &last, "delivered").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_tester_explains_a_miss() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let b = Browser::start().await;
    b.sign_in(&h).await;
    b.client.goto(&h.url("/ui/routes")).await.unwrap();
    assert!(b.text("#tree").await.contains("payments"));
    b.fill("textarea[name=pairs]", "project=web\nlevel=error")
        .await;
    b.click("#test-route").await;
    b.wait_text("#verdict", |t| {
        t == "No route matches: nothing would be sent."
    })
    .await;
    let why = b.text("#explanation td.why").await;
    assert!(why.contains("project is \"web\""), "{why}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_title_renders_as_text_and_runs_no_script() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let hostile = r#"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"#;
    let mut body: serde_json::Value = serde_json::from_slice(&event_alert("hostile")).unwrap();
    body["data"]["event"]["title"] = json!(hostile);
    let r = post_signed(
        &reqwest::Client::new(),
        &h,
        Some("event_alert"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b = Browser::start().await;
    b.sign_in(&h).await;
    for page in ["/ui/alerts".to_owned(), format!("/ui/alerts/{id}")] {
        b.client.goto(&h.url(&page)).await.unwrap();
        let shown = if page == "/ui/alerts" {
            b.text("#alerts td.title a").await
        } else {
            b.text("#fields").await
        };
        assert!(
            shown.contains(hostile),
            "{page} shows the title as text: {shown}"
        );
        let pwned = b
            .client
            .execute("return typeof window.__pwned;", vec![])
            .await
            .unwrap();
        assert_eq!(pwned, json!("undefined"), "a script ran on {page}");
        let images = b.client.find_all(Locator::Css("main img")).await.unwrap();
        assert!(images.is_empty(), "the title made an element on {page}");
    }
    b.close().await;
}

/// Signs in over plain HTTP and returns the session cookie (`name=value`).
async fn session(h: &Herald, http: &reqwest::Client) -> String {
    let r = http
        .post(h.url("/ui/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(flag), "the session cookie lacks {flag}: {set}");
    }
    assert!(!set.contains(TOKEN), "the cookie carries the token");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_state_change_without_the_sessions_csrf_token_is_refused() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session(&h, &http).await;
    let page = http
        .get(h.url("/ui/silences"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.headers()["content-security-policy"],
        herald_server::console::CSP
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's forms carry a CSRF token")
        .to_owned();
    let create = |csrf: Option<&str>, origin: Option<&str>| {
        let mut form = vec![
            ("matchers", "project=api"),
            ("duration", "1h"),
            ("comment", "csrf test"),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let mut req = http
            .post(h.url("/ui/silences"))
            .header("cookie", &cookie)
            .form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let silences = || async {
        h.admin_json("/api/v1/silences", TOKEN).await["silences"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(create(None, None).await.unwrap().status(), 403);
    assert_eq!(create(Some("0123abcd"), None).await.unwrap().status(), 403);
    assert_eq!(
        create(Some(&csrf), Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(silences().await, 0, "a refused request changed something");
    // The same request with the session's token is taken: the refusals were the token's.
    let origin = h.url("");
    assert_eq!(
        create(Some(&csrf), Some(&origin)).await.unwrap().status(),
        303
    );
    assert_eq!(silences().await, 1);
    // Without a session, a state change is refused outright.
    let r = http
        .post(h.url("/ui/dead/retry"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_console_does_not_exist_without_an_admin_token() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(
        dir.path(),
        &crate::standin::config(&standin.url("/hook"), ""),
    )
    .await;
    for path in ["/ui/", "/ui/login", "/ui/assets/console.css"] {
        let r = reqwest::get(h.url(path)).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_on_the_sinks_page_shows_the_providers_answer() {
    let standin = StandIn::start().await;
    standin.script(|_, _| (403, None));
    let (_dir, h) = start(&standin).await;
    let b = Browser::start().await;
    b.sign_in(&h).await;
    b.client.goto(&h.url("/ui/sinks")).await.unwrap();
    b.click("tr[data-sink=hook] button.send-test").await;
    let outcome = b
        .wait_text("#test-outcome", |t| t.starts_with("failed"))
        .await;
    assert!(outcome.contains("403"), "{outcome}");
    assert!(
        b.text("#test-result")
            .await
            .contains("refused for good: herald would not retry")
    );
    assert_eq!(standin.hits().len(), 1, "one test notification was sent");
    b.close().await;
}

#[tokio::test]
async fn behind_a_proxy_the_cookie_is_secure_and_links_carry_the_prefix() {
    let standin = StandIn::start().await;
    let (_dir, h) = start(&standin).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(h.url("/ui/login"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-prefix", "/herald")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/herald/ui/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("; Secure"), "{set}");
    assert!(set.contains("Path=/herald/ui;"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = http
        .get(h.url("/ui/alerts"))
        .header("cookie", &cookie)
        .header("x-forwarded-prefix", "/herald")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/herald/ui/dead\""), "{page}");
    // A prefix that is not a plain path is ignored rather than written into links.
    let page = http
        .get(h.url("/ui/alerts"))
        .header("cookie", &cookie)
        .header("x-forwarded-prefix", "/\"><script>")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/ui/dead\""), "{page}");
}
