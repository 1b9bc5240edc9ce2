//! Behaviour tests: streams run in-process into memory, and the `orders` example end to end.

mod checkpoints;
mod cli;
mod contract;
mod conveniences;
mod crash;
mod cursors;
mod failures;
mod hostile;
mod http_api;
mod inputs;
mod orders;
mod orders_fixture;
mod panics;
mod props;
mod protocol_schema;
mod review;
mod sqlite_orders;
mod state_forms;
mod support;
mod table;
mod time_cursors;
mod windows;
