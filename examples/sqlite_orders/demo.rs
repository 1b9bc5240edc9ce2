//! Creates the demo shop database for the `sqlite_orders` connector, or changes it as a day of
//! business would.
//!
//! ```sh
//! cargo run --example sqlite_demo -- target/demo/shop.db             # create (once)
//! cargo run --example sqlite_demo -- target/demo/shop.db --business 25  # 25 updates, 25 new orders
//! ```

use std::process::ExitCode;

#[path = "shop.rs"]
mod shop;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, business) = match args.as_slice() {
        [path] => (path, None),
        [path, flag, count] if flag == "--business" => match count.parse::<u64>() {
            Ok(count) => (path, Some(count)),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    match run(path, business) {
        Ok(message) => {
            eprintln!("{message}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sqlite_demo: {path}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: sqlite_demo PATH [--business COUNT]");
    ExitCode::from(2)
}

fn run(path: &str, business: Option<u64>) -> Result<String, Box<dyn std::error::Error>> {
    let path = std::path::Path::new(path);
    let exists = path.exists();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut db = rusqlite::Connection::open(path)?;
    if let Some(count) = business {
        // One second ago: the next sync (which caps its watermark at its own start) sees it.
        let at = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
        shop::business(&mut db, count, at)?;
        return Ok(format!(
            "{count} orders changed and {count} new orders at {}",
            shop::timestamp(at)
        ));
    }
    if exists {
        return Ok(format!("{} already exists; left as it is", path.display()));
    }
    shop::fill(&mut db, 2_500, 20_000, chrono::Utc::now())?;
    Ok(format!(
        "created {} with 2500 customers and 20000 orders",
        path.display()
    ))
}
