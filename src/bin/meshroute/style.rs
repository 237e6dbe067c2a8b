//! Color on a terminal, none when piped or with `NO_COLOR` (anstream decides), and the few
//! styles every subcommand uses.

use std::io::Write;

use anstyle::{AnsiColor, Style};

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const BOLD: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style`, for a stream that strips styles where they do not belong.
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// Writes `text` to stdout (styles stripped when piped). A closed pipe (`| head`) ends the
/// program quietly, as for every Unix filter.
pub fn out(text: &str) {
    let mut o = anstream::stdout();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("meshroute: writing stdout: {e}");
        std::process::exit(2);
    }
}

/// Writes a line to stderr.
pub fn err(text: &str) {
    let mut e = anstream::stderr();
    let _ = writeln!(e, "{text}");
}

/// `meshroute: error: MSG` on stderr.
pub fn error_line(msg: &str) {
    err(&format!(
        "{}: {} {msg}",
        paint(BOLD, "meshroute"),
        paint(ERROR, "error:")
    ));
}
