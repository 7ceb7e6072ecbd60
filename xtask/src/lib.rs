//! The project's tools, kept out of the test bed (which holds what tests need): the benchmark
//! (`bench`, run by `scripts/bench`), the cost table (`costs`, the README's "What it costs") and
//! the permissions table (`permissions`, `scripts/permissions` writes docs/permissions.md).

pub mod costs;
