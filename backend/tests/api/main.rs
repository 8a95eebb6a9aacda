//! The backend over HTTP, started in-process by `disca_testkit::TestApp`
//! with a real SQLite file and no PBX behind it (calls through a real
//! Asterisk are the cross-process tests' job, in `tests/`). One test binary,
//! one module per topic.

mod accounts;
mod admin;
mod calls;
mod crm_delivery;
mod crm_reports;
mod downloads;
mod manager;
mod phone;
