//! The message: subject, plain-text part and HTML part rendered from templates (the defaults
//! below or the operator's), assembled into a multipart/alternative email. Pure functions, so
//! a message can be previewed and tested without a server.

use herald_core::Notification;
use herald_core::config::{Diagnostics, Node};
use herald_core::template::{Templates, escape_html, escape_none};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

/// Default subject.
pub const DEFAULT_SUBJECT: &str = "[{{ level }}] {{ project }}: {{ title }}\
{% if count > 1 %} (+{{ count - 1 }} more){% endif %}";

/// Default plain-text part.
pub const DEFAULT_TEXT: &str = "\
[{{ level }}] {{ title }}

Project:     {{ project or \"-\" }}
Environment: {{ environment or \"-\" }}
Culprit:     {{ culprit or \"-\" }}
{% if release %}Release:     {{ release }}
{% endif %}{% for k, v in tags|items %}{% if loop.first %}Tags:
{% endif %}  {{ k }}: {{ v }}
{% endfor %}{% if url %}
{{ url }}
{% endif %}{% if alerts|length > 1 %}
Also in this digest:
{% for a in alerts[1:] %}- [{{ a.level }}] {{ a.project }}: {{ a.title }}
{% endfor %}{% endif %}{% if folded %}...and {{ folded }} more
{% endif %}
-- 
Sent by herald, route \"{{ route }}\".
";

/// Default HTML part: a small table a mail client shows without any stylesheet.
pub const DEFAULT_HTML: &str = r#"<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2 style="margin: 0 0 12px">[{{ level }}] {{ title }}</h2>
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Level</th><td>{{ level or "-" }}</td></tr>
<tr><th align="left">Project</th><td>{{ project or "-" }}</td></tr>
<tr><th align="left">Environment</th><td>{{ environment or "-" }}</td></tr>
<tr><th align="left">Culprit</th><td><code>{{ culprit or "-" }}</code></td></tr>
{% if release %}<tr><th align="left">Release</th><td>{{ release }}</td></tr>
{% endif %}{% if tags %}<tr><th align="left">Tags</th><td>{% for k, v in tags|items %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endif %}</table>
{% if url and (url is startingwith("https://") or url is startingwith("http://")) %}<p><a href="{{ url }}">Open in Sentry</a></p>
{% endif %}{% if alerts|length > 1 %}<p>Also in this digest:</p>
<ul>{% for a in alerts[1:] %}<li>[{{ a.level }}] {{ a.project }}: {{ a.title }}</li>{% endfor %}</ul>
{% endif %}{% if folded %}<p>...and {{ folded }} more</p>
{% endif %}<p style="color: #888">Sent by herald, route "{{ route }}".</p>
</body></html>
"#;

/// The compiled templates of one email sink.
#[derive(Debug)]
pub struct EmailTemplates {
    subject: Templates,
    text: Templates,
    html: Templates,
}

/// Longest subject sent; mail clients cut long ones anyway and some servers refuse them.
const MAX_SUBJECT_CHARS: usize = 200;

impl EmailTemplates {
    /// Compiles the operator's templates or the defaults, reporting problems at their keys.
    pub fn compile(
        subject: Option<&str>,
        text: Option<&str>,
        html: Option<&str>,
        section: &Node,
        diag: &mut Diagnostics,
    ) -> Option<Self> {
        let at = |key: &str| section.get(key).unwrap_or(section);
        let mut t = EmailTemplates {
            subject: Templates::new(escape_line),
            text: Templates::new(escape_none),
            html: Templates::new(escape_html),
        };
        let a = t.subject.add(
            "subject",
            subject.unwrap_or(DEFAULT_SUBJECT),
            at("subject"),
            diag,
        );
        let b = t
            .text
            .add("text", text.unwrap_or(DEFAULT_TEXT), at("text"), diag);
        let c = t
            .html
            .add("html", html.unwrap_or(DEFAULT_HTML), at("html"), diag);
        (a && b && c).then_some(t)
    }

    /// The subject: one line, whatever the alert text or the template contains, since a line
    /// break in a header would let alert text add headers of its own.
    pub fn subject(&self, n: &Notification) -> Result<String, String> {
        let raw = self.subject.render("subject", n)?;
        Ok(one_line(&raw, MAX_SUBJECT_CHARS))
    }

    pub fn text(&self, n: &Notification) -> Result<String, String> {
        self.text.render("text", n)
    }

    pub fn html(&self, n: &Notification) -> Result<String, String> {
        self.html.render("html", n)
    }

    /// The whole message, ready for the transport.
    pub fn message(
        &self,
        n: &Notification,
        from: &Mailbox,
        to: &[Mailbox],
    ) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(from.clone())
            .subject(self.subject(n)?);
        for m in to {
            builder = builder.to(m.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                self.text(n)?,
                self.html(n)?,
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }
}

/// The subject escaper: control characters, line breaks included, become spaces.
pub fn escape_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Joins the lines of `s` with single spaces and cuts it to `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let joined = s
        .split(|c: char| c.is_control())
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests;
