//! Any bytes, read as (lossy) UTF-8 text, load without panicking: `Config::from_str` either
//! returns a configuration or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshroute::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::from_str(&text, "fuzz") {
        // Everything loaded is reachable and printable (Debug walks every field).
        let _ = format!("{config:?}");
    }
});
