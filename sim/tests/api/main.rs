//! The simulator over real loopback HTTP, one module per area.

mod auth;
mod common;
mod directory;
mod events;
mod faults;
mod org_apis;
mod orgs;
mod population;
