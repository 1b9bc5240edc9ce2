//! The `orders` example's source and files, shared by the modules that run it.

pub(crate) use crate::orders::OrdersSource;

/// The example's `config.json` and `catalog.json` paths.
pub fn paths() -> (String, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/orders");
    (format!("{dir}/config.json"), format!("{dir}/catalog.json"))
}
