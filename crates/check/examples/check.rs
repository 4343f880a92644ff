//! Checks one history file: `cargo run -p check --example check -- FILE MODEL`.
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: check FILE cas-register|kv|set");
        std::process::exit(2);
    }
    let model = match args[2].parse() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let opts = check::history::LinOptions {
        budget: Duration::from_secs(10),
        ..Default::default()
    };
    let r = check::history::check_history_file(args[1].as_ref(), model, &opts);
    match &r {
        Ok(report) => print!("{}", report.text),
        Err(e) => eprintln!("{e}"),
    }
    std::process::exit(check::history::exit_code(&r));
}
