//! Prints a week of the stack's life on a simulated clock for the given settings, so a user can
//! see what their office hours, backups and alarms do before deploying them (README).
//!
//! `cargo run -p datero-testbed --bin week -- [--start CRON] [--stop CRON] [--backup CRON]
//! [--zone ZONE] [--from YYYY-MM-DD]`; defaults: the README's example office hours in UTC,
//! a noon backup, from the next Monday of 2026-11-30.

use chrono::{NaiveDate, TimeZone};
use datero_testbed::cron::Cron;
use datero_testbed::week::{self, MorningReturn, Settings};

fn main() -> Result<(), String> {
    let mut start = "cron(0 8 ? * MON-FRI *)".to_owned();
    let mut stop = "cron(0 20 ? * MON-FRI *)".to_owned();
    let mut backup = "cron(0 12 ? * MON-FRI *)".to_owned();
    let mut zone = "UTC".to_owned();
    let mut from = "2026-11-30".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--start" => start = value,
            "--stop" => stop = value,
            "--backup" => backup = value,
            "--zone" => zone = value,
            "--from" => from = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let optional = |text: &str| -> Result<Option<Cron>, String> {
        if text.is_empty() {
            Ok(None)
        } else {
            Cron::parse(text).map(Some)
        }
    };
    let zone: chrono_tz::Tz = zone.parse().map_err(|error| format!("--zone: {error}"))?;
    let settings = Settings {
        start: optional(&start)?,
        stop: optional(&stop)?,
        backup: optional(&backup)?,
        zone,
        morning: MorningReturn::CheckAfterStart,
    };
    let day =
        NaiveDate::parse_from_str(&from, "%Y-%m-%d").map_err(|error| format!("--from: {error}"))?;
    let midnight = zone
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .ok_or("--from: no such local midnight")?
        .with_timezone(&chrono::Utc);
    let mut parameters = vec![
        ("ScheduleStart", start.as_str()),
        ("ScheduleStop", stop.as_str()),
        ("BackupSchedule", backup.as_str()),
    ];
    parameters.retain(|(_, value)| !value.is_empty());
    let (down, backup_failed) = week::template_alarms(&parameters)?;
    let played = week::play(&settings, &[], down, backup_failed, midnight, 7)?;
    print!("{}", played.render());
    Ok(())
}
