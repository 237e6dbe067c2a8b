//! `meshroute-downstream [CONFIG]`: loads CONFIG (by default the bundled Bookinfo), compiles
//! it, and prints where one request from jason to reviews goes.
use meshroute::{CompileOptions, Config, Errors, OwnedRequest, compile};

fn main() -> Result<(), Errors> {
    let mut config = Config::new();
    match std::env::args().nth(1) {
        Some(path) => config.add_file(path)?,
        None => config.add_str(
            include_str!("../../../examples/bookinfo.yaml"),
            "bookinfo.yaml",
        )?,
    }
    let compiled = compile(&config, &CompileOptions::strict())?;
    for warning in &compiled.diagnostics {
        eprintln!("{warning}");
    }
    let req = OwnedRequest::new("GET", "http://reviews:9080/reviews/7")
        .header("end-user", "jason")
        .from_namespace("default");
    let decision = compiled.table.decide_with_draw(&req, 7);
    let route = decision.matched().map_or("-", |m| m.route_name());
    let (host, subset) = decision.destination().map_or(("-", "-"), |d| {
        (&*d.host, d.subset.as_deref().unwrap_or("-"))
    });
    println!(
        "status {} route {route} -> {host} subset {subset}",
        decision.status()
    );
    Ok(())
}
