//! Facts of Datero's image and of its container in every revision: names and paths that the
//! task definition, the containers built from it and the runner's moves between PostgreSQL
//! majors all rely on (one home, no cycle between [`crate::container`] and
//! [`crate::resources::task_definition`]).

/// The container's name in every revision.
pub const CONTAINER_NAME: &str = "datero";
/// nginx in the image serves the UI and `/api` here.
pub const CONTAINER_PORT: i32 = 80;
/// PostgreSQL's port inside the container (the PostgreSQL image's default).
pub const POSTGRES_PORT: i32 = 5432;
/// PGDATA of the PostgreSQL image Datero builds on.
pub const DATA_PATH: &str = "/var/lib/postgresql/data";
/// The variable that tells PostgreSQL where its data is. Set explicitly: images built on
/// postgres 18 and later default to `/var/lib/postgresql/18/docker` and refuse to start on a
/// data directory mounted at the old path unless PGDATA names it (docker-library/postgres).
pub const DATA_PATH_VARIABLE: &str = "PGDATA";
