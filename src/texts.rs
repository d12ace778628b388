//! Every text a student reads from NeCSuS: the system messages posted into a
//! room when a bot fails, and the `message` of API errors. Anything the
//! student supplied is HTML-escaped here, since system messages are HTML.

use crate::botcall::BotFailure;
use crate::calllimits::Crowded;
use crate::matcher::PatternError;

/// The author of system messages.
pub const SYSTEM_AUTHOR: &str = "NeCSuS";

pub const STATE_CLEARED: &str = "The room state has been cleared";

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn bot_label(name: &str) -> String {
    format!("<b>{}</b>", escape_html(name))
}

/// The system message for a failed bot call.
pub fn bot_failure(name: &str, url: &str, failure: &BotFailure) -> String {
    let bot = bot_label(name);
    let url_code = format!("<code>{}</code>", escape_html(url));
    match failure {
        BotFailure::NoUrl => format!(
            "The bot {bot} has no URL, so NeCSuS cannot send it the message. \
             Put your bot's URL into the bot's settings."
        ),
        BotFailure::InvalidUrl(why) => format!(
            "The URL {url_code} of the bot {bot} is not a valid http:// or https:// URL ({}). \
             Is the URL correct?",
            escape_html(why)
        ),
        BotFailure::CannotConnect(why) => format!(
            "NeCSuS could not connect to the bot {bot} at {url_code}. Is the URL correct? \
             Is your bot's server running? ({})",
            escape_html(why)
        ),
        BotFailure::TimedOut { seconds } => format!(
            "The bot {bot} at {url_code} did not finish responding within {} seconds, \
             so NeCSuS stopped waiting for it.",
            format_seconds(*seconds)
        ),
        BotFailure::Busy { seconds } => format!(
            "The bot {bot} at {url_code} answered, but NeCSuS was busy reading other bots' \
             large replies and could not read this one within {} seconds. This is not your \
             bot's fault: send the message again in a moment.",
            format_seconds(*seconds)
        ),
        BotFailure::Crowded(crowded) => {
            let whose = match crowded {
                Crowded::Client => "you (from your address) already had",
                Crowded::Room => "this room already had",
                Crowded::Server => "the server already had",
            };
            format!(
                "NeCSuS did not call the bot {bot} at {url_code}: {whose} as many bot calls \
                 waiting for answers as it allows at once, for longer than it could wait. \
                 This is not your bot's fault: send the message again once some have \
                 answered."
            )
        }
        BotFailure::TooManyRedirects => format!(
            "The bot {bot} at {url_code} redirected NeCSuS too many times. \
             Point the bot at the final URL instead."
        ),
        BotFailure::Refused(host) => format!(
            "NeCSuS refused to call the bot {bot} at {url_code}: {} is on this server's own \
             machine or a private network, which bots may not reach from here. Host your bot \
             somewhere public (for example Replit). A bot on the server's machine (127.0.0.1, \
             localhost) is called only when it was saved, and the message sent, on that \
             machine itself; a tutor can allow a network (a school's LAN) with \
             <code>--allow-bot-networks</code>.",
            escape_html(host)
        ),
        BotFailure::Status { code, reason } => {
            let hint = match code {
                404 => format!(
                    " Check that the route in your <code>@app.post(...)</code> decorator matches \
                     the end of the bot's URL, and that the URL {url_code} is right."
                ),
                405 => " Your route does not accept POST requests: use <code>@app.post</code>, \
                        not <code>@app.route</code> or <code>@app.get</code>."
                    .to_owned(),
                500 => " Your bot crashed while handling the message: look at your Flask \
                        server's log for the error."
                    .to_owned(),
                _ => String::new(),
            };
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape_html(reason))
            };
            format!("The bot {bot} responded with a non-ok status code of {code}{reason}.{hint}")
        }
        BotFailure::TooLarge { limit } => format!(
            "The bot {bot} sent a response larger than {}, which is more than this server \
             accepts (its limit is set by <code>--bot-max-reply-bytes</code>). For a large \
             picture, put it at a URL and return it in the <code>image</code> key, like \
             <code>{{'text': 'Here it is', 'image': 'https://…/chart.png'}}</code>, instead \
             of embedding it in the text.",
            format_bytes(*limit)
        ),
        BotFailure::ClosedWithoutAnswer(why) => format!(
            "The server of the bot {bot} at {url_code} accepted the connection but closed it \
             without answering, twice. Did your bot crash while handling the message? Look at \
             your Flask server's log. ({})",
            escape_html(why)
        ),
        BotFailure::EmptyBody => format!(
            "The bot {bot} answered with status 200 but an empty body. Return a dictionary from \
             your Flask function, like <code>{{'text': 'Hi!'}}</code>."
        ),
        BotFailure::BrokenResponse(why) => format!(
            "The connection to the bot {bot} broke while it was sending its response ({}).",
            escape_html(why)
        ),
        BotFailure::NotJson { body, why } => format!(
            "The bot {bot} did not respond with JSON ({}). Return a dictionary from your Flask \
             function, like <code>{{'text': 'Hi!'}}</code>. It responded with:\
             <pre>{}</pre>",
            escape_html(why),
            escape_html(body)
        ),
        BotFailure::NotObject { type_name } => format!(
            "The response from the bot {bot} was <code>{type_name}</code> instead of \
             <code>dict</code>. Return a dictionary like <code>{{'text': 'Hi!'}}</code>."
        ),
        BotFailure::MissingText => format!(
            "The response from the bot {bot} is missing the <code>text</code> key. \
             Every response needs one, even if it is empty: <code>{{'text': ''}}</code>."
        ),
        BotFailure::TextNotString { type_name } => format!(
            "The <code>text</code> in the response from the bot {bot} was \
             <code>{type_name}</code> instead of <code>str</code>."
        ),
    }
}

/// The system message for a pattern that cannot be matched.
pub fn pattern_failure(name: &str, pattern: &str, error: &PatternError) -> String {
    let bot = bot_label(name);
    let pattern = escape_html(pattern);
    match error {
        PatternError::Invalid(why) => format!(
            "The \"responds to\" pattern <code>{pattern}</code> of the bot {bot} is not a valid \
             regular expression: {}",
            escape_html(why)
        ),
        PatternError::PythonRaises => format!(
            "The \"responds to\" pattern <code>{pattern}</code> of the bot {bot} makes \
             Python's own <code>re</code> module fail on this message (<code>SystemError: The \
             span of capturing group is wrong</code>), so the bot was skipped, as it would be \
             in Python. Groups inside repeats that can match nothing cause it: simplify them."
        ),
        PatternError::TooSlow => format!(
            "The \"responds to\" pattern <code>{pattern}</code> of the bot {bot} took too long \
             to match this message, so the bot was skipped. It is skipped the same way on \
             every message it is too slow for, and this is said only once. Look for what makes \
             it try too many ways: nested repetitions like <code>(a+)+</code>, or a lookahead \
             that scans the rest of the message at every position like \
             <code>(?=.*z)</code>."
        ),
    }
}

pub fn form_bot_not_found(bot_id: i64) -> String {
    format!(
        "The bot (id {bot_id}) that this form belongs to can't be found in this room: \
         perhaps it was deleted."
    )
}

pub fn form_bad_action(bot_name: &str, action: &str, why: &str) -> String {
    format!(
        "The form's action <code>{}</code> could not be joined to the URL of the bot {}: {}",
        escape_html(action),
        bot_label(bot_name),
        escape_html(why)
    )
}

/// Name of the bot created when a bot with no record in the room starts a
/// conversation from a form.
pub fn auto_bot_name(url: &str) -> String {
    format!("(Auto) {url}")
}

// API errors (the `message` of a 4xx/5xx JSON body).

pub fn field_required(field: &str) -> String {
    format!("`{field}` is required")
}

pub fn field_wrong_type(field: &str, expected: &str) -> String {
    format!("`{field}` must be {expected}")
}

pub fn field_empty(field: &str) -> String {
    format!("`{field}` must not be empty")
}

pub fn field_control_chars(field: &str) -> String {
    format!("`{field}` must not contain control characters")
}

pub fn field_too_long(field: &str, limit: usize) -> String {
    format!("`{field}` is longer than {limit} characters")
}

pub fn body_not_json(why: &str) -> String {
    format!("The request body is not valid JSON: {why}")
}

pub const BODY_NOT_OBJECT: &str = "The request body must be a JSON object";

pub fn body_too_large(limit: usize) -> String {
    format!("The request body is larger than the limit of {limit} bytes")
}

/// The system message posted once when a room starts being rate-limited.
pub fn room_rate_limited(rate: f64, burst: u32) -> String {
    format!(
        "This room is receiving messages faster than people type (more than {burst} at once, \
         or {} a second), so NeCSuS is refusing new ones for a moment. If a bot posts into its \
         own room, make sure its messages do not trigger it again; if a script posts in a \
         loop, slow it down. Posting works again as soon as the room calms down.",
        format_rate(rate)
    )
}

/// The API error for a post refused by the room's rate limit.
/// A bot test or replay refused by its rate limit: `whose` is "you" or
/// "this bot".
pub fn bot_tests_limited(whose: &str, per_minute: f64, retry_after_secs: u64) -> String {
    format!(
        "Bots are being tested or replayed too often by {whose} (at most {per_minute} a \
         minute, after a first burst); try again in {retry_after_secs} s"
    )
}

/// A post refused by its client's own allowance.
pub fn client_rate_limited(retry_after_secs: u64) -> String {
    format!(
        "You are sending messages faster than people type (a script in a loop?), so NeCSuS \
         slows you down before it slows the room; try again in {retry_after_secs} s"
    )
}

/// The room's notice, once per post, that what the post caused reached the
/// bound (see `cascade`).
pub fn cascade_spent(budget: u32) -> String {
    format!(
        "One message has already caused {budget} others here (bot replies, and posts bots made \
         in answer), the most one message may cause, so NeCSuS called no more bots for it. Is a \
         bot's URL this server's own API, or does a bot post messages that trigger bots again? \
         Point it at your bot's own server, or make its messages not match."
    )
}

/// The answer to a bot's post that came back from a call whose message
/// already caused as many messages as one may.
pub fn cascade_refused(budget: u32) -> String {
    format!(
        "This post comes from a bot call made for a message that has already caused {budget} \
         others (the most one message may cause), or from a chain of bot calls back into this \
         server too long to follow, so it is not posted. A bot's URL should be its own \
         server, not this server's API."
    )
}

/// A change refused because it came from another site's page.
pub fn cross_site_refused(from: &str) -> String {
    format!(
        "NeCSuS refuses changes sent by another website's page ({from}) in your browser, so \
         that a page you happen to open cannot post, change bots or clear rooms as you. Use \
         the NeCSuS page itself, or a script (curl, Python's requests); a tutor can allow a \
         site with --allow-origins."
    )
}

pub const METRICS_REFUSED: &str = "/metrics answers only on the server's own machine, or to a \
    request carrying the tutor's token (Authorization: Bearer ...).";

pub fn rate_limited(retry_after_secs: u64) -> String {
    format!(
        "This room is receiving messages too fast (a bot triggering itself, or a script in a \
         loop?); try again in {retry_after_secs} s"
    )
}

fn format_rate(rate: f64) -> String {
    if rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

pub fn unknown_bot(id: i64) -> String {
    format!("There is no bot with id {id}")
}

pub fn unknown_call(id: i64) -> String {
    format!("There is no recorded bot call with id {id}")
}

pub fn too_many_bots(limit: usize) -> String {
    format!("A room can hold at most {limit} bots; delete one first")
}

pub const QUERY_ROOM_REQUIRED: &str = "The `room` query parameter is required";

pub fn database_unavailable(why: &str) -> String {
    format!("The database is unavailable right now; try again in a moment ({why})")
}

pub fn database_silent(seconds: u64) -> String {
    format!("The database did not answer within {seconds} seconds")
}

pub const LISTENER_DOWN: &str = "This instance is not hearing the database's notifications \
     right now, so it may be missing other instances' messages; it is reconnecting";

pub const SHUTTING_DOWN: &str = "The server is shutting down; try again in a moment";

pub const NO_SUCH_ROUTE: &str = "There is no API route at this path; see /docs";

pub const METHOD_NOT_ALLOWED: &str = "This route does not accept that HTTP method; see /docs";

fn format_seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

fn format_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
