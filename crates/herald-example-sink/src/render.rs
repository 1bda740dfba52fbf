//! The message `type: example_chat` posts: a pure function of the notification.

use herald_core::Notification;
use herald_core::template::fields;
use herald_core::text::strip_invisible;

/// The longest text the example service takes, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The JSON body for `n`: the level and title of each alert, its fields and tags, its link,
/// and how many more were folded in. Alert text is cleaned of invisible characters; a chat
/// service with markup would escape it here too.
pub fn render(n: &Notification) -> serde_json::Value {
    let mut lines = Vec::new();
    for alert in &n.alerts {
        let level = alert.level.map(|l| l.as_str()).unwrap_or("alert");
        lines.push(format!("[{level}] {}", strip_invisible(&alert.title)));
        for (label, value) in fields::details(alert) {
            lines.push(format!("{label}: {}", strip_invisible(value)));
        }
        if let Some(tags) = fields::tag_list(alert, strip_invisible) {
            lines.push(format!("Tags: {tags}"));
        }
        if let Some(url) = &alert.url {
            lines.push(strip_invisible(url));
        }
    }
    if n.folded > 0 {
        lines.push(format!("and {} more like this", n.folded));
    }
    let text: String = lines.join("\n").chars().take(MAX_TEXT_CHARS).collect();
    serde_json::json!({"text": text, "idempotency_key": n.idempotency_key})
}
