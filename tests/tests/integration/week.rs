//! A week of an office-hours stack on a simulated clock (issue 23): schedules at their cron
//! times in Europe/Berlin across the end of daylight-saving time, instances that launch minutes
//! after Datero waits for them, a morning without capacity, a crash at midday, a Spot
//! interruption, daily backups; the down and backup-failed alarms evaluated minute by minute as
//! CloudWatch does. Every notification the topic receives is asserted, with its time.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use datero_testbed::alarm_eval::AlarmState;
use datero_testbed::cron::Cron;
use datero_testbed::week::{self, Incident, MorningReturn, Settings, Week};

const START: &str = "cron(0 8 ? * MON-FRI *)";
const STOP: &str = "cron(0 20 ? * MON-FRI *)";
const BACKUP: &str = "cron(0 12 ? * MON-FRI *)";

fn settings(morning: MorningReturn) -> Settings {
    Settings {
        start: Some(Cron::parse(START).unwrap()),
        stop: Some(Cron::parse(STOP).unwrap()),
        backup: Some(Cron::parse(BACKUP).unwrap()),
        zone: Berlin,
        morning,
    }
}

fn berlin(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Berlin
        .with_ymd_and_hms(2026, 10, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 19 October 2026, 00:00 in Berlin, for eight days: summer time ends on Sunday 25th.
fn play(morning: MorningReturn, incidents: &[Incident]) -> Week {
    let (down, backup_failed) = week::template_alarms(&[
        ("ScheduleStart", START),
        ("ScheduleStop", STOP),
        ("ScheduleTimezone", "Europe/Berlin"),
        ("BackupSchedule", BACKUP),
    ])
    .unwrap();
    week::play(
        &settings(morning),
        incidents,
        down,
        backup_failed,
        berlin(19, 0, 0),
        8,
    )
    .unwrap()
}

fn notes(week: &Week) -> Vec<(String, &'static str, AlarmState)> {
    week.notifications
        .iter()
        .map(|note| {
            (
                note.local.format("%a %d %H:%M").to_string(),
                note.alarm,
                note.state,
            )
        })
        .collect()
}

#[test]
fn a_week_of_normal_days_sends_nothing() {
    let week = play(MorningReturn::CheckAfterStart, &[]);
    println!("{}", week.render());
    assert_eq!(notes(&week), []);
    // The schedules follow Berlin's clock across the change: 08:00 is 06:00 UTC in summer time
    // and 07:00 UTC after it.
    let starts: Vec<String> = week
        .lines
        .iter()
        .filter(|line| line.event.starts_with("scheduled start"))
        .map(|line| line.at.format("%a %H:%M").to_string())
        .collect();
    assert_eq!(
        starts,
        [
            "Mon 06:00",
            "Tue 06:00",
            "Wed 06:00",
            "Thu 06:00",
            "Fri 06:00",
            "Mon 07:00"
        ]
    );
    // Every working day's backup found Datero running.
    let backups = week
        .lines
        .iter()
        .filter(|line| line.event == "backup: dump taken and stored")
        .count();
    assert_eq!(backups, 6);
}

#[test]
fn the_week_of_incidents_sends_exactly_what_each_deserves() {
    let incidents = [
        // Tuesday: no instance launches all day.
        Incident::NoInstance {
            date: NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
        },
        // Wednesday 13:00: Datero crashes and cannot be restarted for 30 minutes.
        Incident::Crash {
            at: berlin(21, 13, 0),
            down_minutes: 30,
        },
        // Thursday 14:00: a Spot interruption notice.
        Incident::SpotInterruption {
            at: berlin(22, 14, 0),
        },
    ];
    let week = play(MorningReturn::CheckAfterStart, &incidents);
    println!("{}", week.render());
    assert_eq!(
        notes(&week),
        [
            // A morning without Datero: one message, at the check 15 minutes after the start.
            ("Tue 20 08:15".to_owned(), "down", AlarmState::Alarm),
            // Its backup task is never placed; the restarter's check 15 minutes later counts
            // the failure the task could not report.
            (
                "Tue 20 12:16".to_owned(),
                "backup-failed",
                AlarmState::Alarm,
            ),
            // Wednesday's normal morning ends Tuesday's outage: its subscribers, last told
            // "down", hear that Datero is back, once.
            ("Wed 21 08:15".to_owned(), "down", AlarmState::Ok),
            // A midday outage: reported within 15 minutes, and its end too.
            ("Wed 21 13:12".to_owned(), "down", AlarmState::Alarm),
            ("Wed 21 13:31".to_owned(), "down", AlarmState::Ok),
        ]
    );
    assert!(
        week.lines
            .iter()
            .any(|line| line.event == "restarter's backup check: missed")
    );
    // The Spot interruption cost a few minutes, not an alarm: Datero ran again on the
    // replacement instance.
    let thursday: Vec<&str> = week
        .lines
        .iter()
        .filter(|line| line.local.format("%d").to_string() == "22")
        .map(|line| line.event.as_str())
        .collect();
    let notice = thursday
        .iter()
        .position(|event| event.starts_with("Spot notice"))
        .unwrap();
    assert!(
        thursday[notice..]
            .iter()
            .any(|event| event.starts_with("Datero running")),
        "{thursday:?}"
    );
}

#[test]
fn the_reset_at_the_start_that_issue_23_replaced_pages_every_morning() {
    // The template before: EnableAlarmActions and SetAlarmState OK at ScheduleStart. The next
    // evaluation sees ten empty minutes and goes back to ALARM with the actions on.
    let week = play(MorningReturn::ResetAtStart, &[]);
    let mornings: Vec<_> = notes(&week)
        .into_iter()
        .filter(|(_, alarm, state)| *alarm == "down" && *state == AlarmState::Alarm)
        .collect();
    assert_eq!(mornings.len(), 6, "{}", week.render());
    assert!(mornings[0].0.ends_with("08:01"), "{mornings:?}");
}
