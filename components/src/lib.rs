//! Paths of the WebAssembly components built by this crate's build script:
//! the Atlassian integration, and the test components the host's tests run.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
