//! Any bytes that load also compile without panicking, in lenient mode (invalid resources are
//! rejected, not fatal) and in strict mode; the two agree on whether anything was rejected.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meshroute::{CompileOptions, Config, compile};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::from_str(&text, "fuzz") else {
        return;
    };
    let lenient =
        compile(&config, &CompileOptions::default()).expect("a lenient compile does not fail");
    let strict = compile(&config, &CompileOptions::strict());
    assert_eq!(
        strict.is_ok(),
        lenient.rejected.is_empty(),
        "strict fails exactly when lenient rejects something: {:?}",
        lenient.rejected
    );
    let _ = format!("{:?}", lenient.table);
});
