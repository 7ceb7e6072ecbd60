//! A PostgreSQL major that cannot open the data directory, read from Datero's log.
//!
//! PostgreSQL checks `PG_VERSION` in its data directory before it touches anything, and stops
//! with "database files are incompatible with server" and the detail "The data directory was
//! initialized by PostgreSQL version 15, which is not compatible with this version 17.6."
//! (`src/backend/utils/init/miscinit.c`, `ValidatePgVersion`; the test bed reads the real
//! message of PostgreSQL 15 and 17 servers). The data is left as it was. A new major reads an
//! old major's data only through a dump and a restore (PostgreSQL manual, "Upgrading a
//! PostgreSQL Cluster"); an older major never reads a newer one's.

/// The words PostgreSQL's detail starts the two versions with.
const INITIALIZED_BY: &str = "initialized by PostgreSQL version ";
const THIS_VERSION: &str = "which is not compatible with this version ";

/// A data directory made by one major met a server of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MajorMismatch {
    /// The major that initialised the data directory (`PG_VERSION`).
    pub data: u32,
    /// The major of the server in the new image.
    pub server: u32,
}

impl MajorMismatch {
    /// The first mismatch PostgreSQL reported among `lines` (a container's log, any order).
    pub fn find<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        lines.into_iter().find_map(Self::parse)
    }

    fn parse(line: &str) -> Option<Self> {
        let after = &line[line.find(INITIALIZED_BY)? + INITIALIZED_BY.len()..];
        let data = leading_number(after)?;
        let after = &after[after.find(THIS_VERSION)? + THIS_VERSION.len()..];
        let server = leading_number(after)?;
        Some(Self { data, server })
    }

    /// What the user does next, short enough to lead CloudFormation's status reason.
    pub fn advice(&self) -> String {
        let Self { data, server } = *self;
        if server > data {
            format!(
                "PostgreSQL {server} cannot open the data of PostgreSQL {data} (left untouched): back up, deploy with DataDirectory=pg{server}, restore (README: Upgrading PostgreSQL)"
            )
        } else {
            format!(
                "downgrade refused: PostgreSQL {server} cannot read the data of PostgreSQL {data}; use an image of PostgreSQL {data} or later"
            )
        }
    }
}

fn leading_number(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // As PostgreSQL 17 and 15 print them (the test bed checks these against real servers).
    const UPGRADE: &str = "2026-11-30 11:25:23.129 UTC [29484] DETAIL:  The data directory was initialized by PostgreSQL version 15, which is not compatible with this version 17.11.";
    const DOWNGRADE: &str = "2026-11-30 11:25:23.738 UTC [29501] DETAIL:  The data directory was initialized by PostgreSQL version 17, which is not compatible with this version 15.18 (Debian 15.18-0+deb12u1).";

    #[test]
    fn the_two_majors_are_read_from_postgresqls_detail() {
        let log = [
            "2026-11-30 11:25:23.129 UTC [29484] FATAL:  database files are incompatible with server",
            UPGRADE,
        ];
        assert_eq!(
            MajorMismatch::find(log),
            Some(MajorMismatch {
                data: 15,
                server: 17
            })
        );
        assert_eq!(
            MajorMismatch::find([DOWNGRADE]),
            Some(MajorMismatch {
                data: 17,
                server: 15
            })
        );
        assert_eq!(
            MajorMismatch::find(["FATAL:  password authentication failed", ""]),
            None
        );
        assert_eq!(
            MajorMismatch::find(["initialized by PostgreSQL version x, which"]),
            None
        );
    }

    #[test]
    fn an_upgrade_is_told_the_way_and_a_downgrade_is_refused() {
        let upgrade = MajorMismatch::find([UPGRADE]).unwrap().advice();
        assert!(upgrade.contains("DataDirectory=pg17"), "{upgrade}");
        assert!(upgrade.contains("left untouched"), "{upgrade}");
        let downgrade = MajorMismatch::find([DOWNGRADE]).unwrap().advice();
        assert!(downgrade.starts_with("downgrade refused"), "{downgrade}");
        assert!(downgrade.contains("PostgreSQL 17 or later"), "{downgrade}");
        // Room left in CloudFormation's reason for what the runner adds.
        assert!(
            upgrade.len() <= 160 && downgrade.len() <= 160,
            "{upgrade} {downgrade}"
        );
    }
}
