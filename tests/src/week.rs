//! The stack's life on a simulated clock: office hours, Spot interruptions, crashes and backups
//! minute by minute, with the alarms evaluated as CloudWatch evaluates them ([`crate::alarm_eval`]).
//!
//! The decisions are the product's own pure functions (`schedule::decide`,
//! `schedule::checks_down_alarm`, `down_alarm::after_start`, `restart_policy::decide` with the
//! closed-hours mark); the world around them is modelled from AWS's documentation:
//! - schedules fire at their cron times in their time zone, daylight-saving changes included
//!   (IANA database);
//! - ECS publishes the cluster's `MemoryReservation` once a minute, and only while a task runs
//!   (ECS guide, "Amazon ECS CloudWatch metrics"); the backup task's own `BackupFailures`
//!   sample when its dump finds no Datero;
//! - an instance launches [`LAUNCH_MINUTES`] after a task waits for capacity; managed scaling
//!   removes an idle instance [`SCALE_IN_MINUTES`] after its last task stops;
//! - a Spot interruption notice comes two minutes before EC2 reclaims the instance (EC2 guide,
//!   "Spot Instance interruption notices").
//!
//! The restarter's integration with AWS (the calls, their permissions) is tested against the
//! emulator in `tests/tests/integration/task_restarter.rs`; this module tests the design over time.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use datero_shared::backup_watch::{self, BackupRun};
use datero_shared::down_alarm::{self, CHECK_DELAY, MorningCheck, State, Step};
use datero_shared::restart_policy::{self, Decision, Facts};
use datero_shared::schedule::{
    self, Action, HoursMark, ScheduledEvent, checks_down_alarm, restart_barred,
};

use crate::alarm_eval::TreatMissingData;
use crate::alarm_eval::{AlarmConfig, AlarmState, ComparisonOperator, MetricAlarm, Statistic};
use crate::cron::Cron;

/// Minutes from a task waiting for capacity to the instance running it (boot, agent, pull).
pub const LAUNCH_MINUTES: i64 = 4;
/// Minutes an instance stays after its last task stops before managed scaling removes it.
pub const SCALE_IN_MINUTES: i64 = 15;
/// Minutes from a Spot interruption notice to EC2 reclaiming the instance.
pub const SPOT_NOTICE_MINUTES: i64 = 2;
/// The share of the cluster's memory Datero reserves, as ECS reports it (percent).
const DATERO_RESERVATION: f64 = 75.0;

/// How the down alarm's actions come back in the morning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MorningReturn {
    /// The product: the restarter's check [`CHECK_DELAY`] after the start.
    CheckAfterStart,
    /// The design before issue 23: EnableAlarmActions and SetAlarmState OK at the start itself.
    ResetAtStart,
}

/// What the user deploys with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub start: Option<Cron>,
    pub stop: Option<Cron>,
    pub backup: Option<Cron>,
    pub zone: Tz,
    pub morning: MorningReturn,
}

/// Something that happens to the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incident {
    /// On this local date no instance launches (no capacity, a launch failure).
    NoInstance { date: NaiveDate },
    /// Datero crashes at `at`, and restarts fail for `down_minutes` (RunTask refused, say).
    Crash {
        at: DateTime<Utc>,
        down_minutes: i64,
    },
    /// A Spot interruption notice for Datero's instance at `at`.
    SpotInterruption { at: DateTime<Utc> },
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub event: String,
    /// The down alarm after the event: state and whether its actions are on.
    pub down: String,
}

/// A message the SNS topic received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    /// `down` or `backup-failed`.
    pub alarm: &'static str,
    pub state: AlarmState,
}

/// What a simulated stretch of time produced.
#[derive(Debug, Clone, Default)]
pub struct Week {
    pub lines: Vec<Line>,
    pub notifications: Vec<Notification>,
}

impl Week {
    /// The timeline as text, one line per event, then the notifications.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&format!(
                "{}  {:<62} down: {}\n",
                line.local.format("%a %d %H:%M"),
                line.event,
                line.down
            ));
        }
        if self.notifications.is_empty() {
            text.push_str("notifications: none\n");
        }
        for note in &self.notifications {
            text.push_str(&format!(
                "notification {} ({} UTC): {} {}\n",
                note.local.format("%a %d %H:%M"),
                note.at.format("%H:%M"),
                note.alarm,
                note.state
            ));
        }
        text
    }
}

/// The down alarm and the backup-failed alarm as `template.yaml` makes them for a stack
/// deployed with `parameters`.
pub fn template_alarms(parameters: &[(&str, &str)]) -> Result<(AlarmConfig, AlarmConfig), String> {
    let template = crate::template::Template::load()?;
    let stack = crate::seed::test_stack(&template).with(parameters);
    let down = alarm_config(&template.properties("DateroDownAlarm", &stack)?)?;
    let backup = alarm_config(&template.properties("BackupFailedAlarm", &stack)?)?;
    Ok((down, backup))
}

/// The parts of an alarm's template properties the evaluator needs, resolved.
pub fn alarm_config(properties: &serde_json::Value) -> Result<AlarmConfig, String> {
    let number = |key: &str| {
        let value = &properties[key];
        value
            .as_f64()
            .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
            .ok_or_else(|| format!("{key}: expected a number, found {value}"))
    };
    let comparison = match properties["ComparisonOperator"].as_str() {
        Some("LessThanThreshold") => ComparisonOperator::LessThanThreshold,
        Some("LessThanOrEqualToThreshold") => ComparisonOperator::LessThanOrEqualToThreshold,
        Some("GreaterThanThreshold") => ComparisonOperator::GreaterThanThreshold,
        Some("GreaterThanOrEqualToThreshold") => ComparisonOperator::GreaterThanOrEqualToThreshold,
        other => return Err(format!("ComparisonOperator {other:?} is not modelled")),
    };
    let statistic = match properties["Statistic"].as_str() {
        Some("Maximum") => Statistic::Maximum,
        Some("Minimum") => Statistic::Minimum,
        Some("Sum") => Statistic::Sum,
        Some("Average") => Statistic::Average,
        Some("SampleCount") => Statistic::SampleCount,
        other => return Err(format!("Statistic {other:?} is not modelled")),
    };
    let periods = number("EvaluationPeriods")? as usize;
    let mut config = AlarmConfig::new(
        number("Period")? as i64,
        periods,
        properties
            .get("DatapointsToAlarm")
            .map_or(Ok(periods as f64), |_| number("DatapointsToAlarm"))? as usize,
        number("Threshold")?,
        comparison,
        statistic,
    );
    config.treat_missing_data = match properties["TreatMissingData"].as_str() {
        Some("breaching") => TreatMissingData::Breaching,
        Some("notBreaching") => TreatMissingData::NotBreaching,
        Some("ignore") => TreatMissingData::Ignore,
        _ => TreatMissingData::Missing,
    };
    config.actions_enabled = properties["ActionsEnabled"] != serde_json::json!(false)
        && properties["ActionsEnabled"] != serde_json::json!("false");
    let has = |key: &str| {
        properties[key]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    };
    config.has_alarm_actions = has("AlarmActions");
    config.has_ok_actions = has("OKActions");
    config.has_insufficient_data_actions = has("InsufficientDataActions");
    Ok(config)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datero {
    Stopped,
    /// Wanted by ECS, waiting for an instance (PROVISIONING).
    Waiting,
    Running,
    /// Stopped, its restart failing until this minute.
    Down {
        until: i64,
    },
}

struct World<'a> {
    settings: &'a Settings,
    incidents: &'a [Incident],
    down: MetricAlarm,
    backup_failed: MetricAlarm,
    datero: Datero,
    /// The minute the instance is ready (launched), if one exists or is launching.
    instance_ready: Option<i64>,
    /// Minute from which the instance is gone (Spot reclaim, scale-in).
    instance_gone: Option<i64>,
    idle_since: Option<i64>,
    mark: Option<HoursMark>,
    morning_check: Option<(i64, MorningCheck)>,
    /// The restarter's backup check: (due minute, check minute, the backup task if one ran).
    backup_check: Option<(i64, i64, Option<BackupRun>)>,
    week: Week,
}

/// Plays `days` days from `from` (UTC), a minute at a time.
pub fn play(
    settings: &Settings,
    incidents: &[Incident],
    down: AlarmConfig,
    backup_failed: AlarmConfig,
    from: DateTime<Utc>,
    days: i64,
) -> Result<Week, String> {
    let mut down = MetricAlarm::new(down).map_err(|error| error.to_string())?;
    let backup_failed = MetricAlarm::new(backup_failed).map_err(|error| error.to_string())?;
    let start = from.timestamp() / 60;
    // Before the first minute: an office-hours stack sits in its night (Datero stopped,
    // actions off), an always-on one runs.
    let office_hours = settings.start.is_some();
    if office_hours {
        down.disable_actions();
    }
    let mut world = World {
        settings,
        incidents,
        down,
        backup_failed,
        datero: if office_hours {
            Datero::Stopped
        } else {
            Datero::Running
        },
        instance_ready: (!office_hours).then_some(start - 60),
        instance_gone: None,
        idle_since: None,
        mark: None,
        morning_check: None,
        backup_check: None,
        week: Week::default(),
    };
    if !office_hours {
        for minute in start - 20..start {
            world.down.put_sample(minute * 60, DATERO_RESERVATION);
            world.down.evaluate(minute * 60 + 60);
        }
    } else {
        for minute in start - 20..start {
            world.down.evaluate(minute * 60 + 60);
        }
    }
    for minute in start..start + days * 24 * 60 {
        world.tick(minute);
    }
    Ok(world.week)
}

impl World<'_> {
    fn utc(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(minute * 60, 0).unwrap_or_default()
    }

    fn local(&self, minute: i64) -> NaiveDateTime {
        Self::utc(minute)
            .with_timezone(&self.settings.zone)
            .naive_local()
    }

    fn alarm_text(&self) -> String {
        let on = if self.down.actions_enabled() {
            "on"
        } else {
            "off"
        };
        format!("{}, actions {on}", self.down.state())
    }

    fn log(&mut self, minute: i64, event: String) {
        let line = Line {
            at: Self::utc(minute),
            local: self.local(minute),
            event,
            down: self.alarm_text(),
        };
        self.week.lines.push(line);
    }

    fn notify(&mut self, minute: i64, alarm: &'static str, state: AlarmState) {
        let note = Notification {
            at: Self::utc(minute),
            local: self.local(minute),
            alarm,
            state,
        };
        self.week.notifications.push(note);
        self.log(minute, format!("SNS: {alarm} alarm {state}"));
    }

    fn instance_here(&self, minute: i64) -> bool {
        self.instance_ready.is_some_and(|ready| ready <= minute)
            && self.instance_gone.is_none_or(|gone| minute < gone)
    }

    /// Datero waits for capacity: the group launches an instance unless one is there, is
    /// coming, or none can launch today.
    fn want_capacity(&mut self, minute: i64) {
        let date = self.local(minute).date();
        let launching = self.instance_ready.is_some_and(|ready| {
            self.instance_gone
                .is_none_or(|gone| ready < gone && minute < gone)
        });
        if launching {
            return;
        }
        if self.incidents.contains(&Incident::NoInstance { date }) {
            self.instance_ready = None;
            return;
        }
        let ready = self.instance_gone.map_or(minute, |gone| gone.max(minute)) + LAUNCH_MINUTES;
        self.instance_ready = Some(ready);
        self.instance_gone = None;
    }

    fn scheduled(&mut self, minute: i64, action: Action) {
        let event = ScheduledEvent {
            schedule: action,
            scheduled_time: Self::utc(minute).to_rfc3339(),
        };
        // The restarter reads the down alarm's state at a stop, before the schedule that turns
        // its actions off could change anything (it changes no state).
        let previous = self.mark.take();
        let in_alarm = action == Action::Stop && self.down.state() == AlarmState::Alarm;
        self.mark = HoursMark::of(&event, in_alarm);
        let wanted: Vec<String> = match self.datero {
            Datero::Running | Datero::Waiting => vec!["datero".to_owned()],
            Datero::Stopped | Datero::Down { .. } => Vec::new(),
        };
        if action == Action::Stop {
            // DownAlarmOffSchedule fires at the same time.
            self.down.disable_actions();
        }
        if action == Action::Start && self.settings.morning == MorningReturn::ResetAtStart {
            self.down.enable_actions();
            let outcome = self
                .down
                .set_alarm_state(AlarmState::Ok, "office hours begin");
            if outcome.action.is_some() {
                self.notify(minute, "down", AlarmState::Ok);
            }
        }
        let decision = schedule::decide(&event, false, &wanted);
        match &decision {
            schedule::Decision::Start { .. } => {
                self.datero = Datero::Waiting;
                self.want_capacity(minute);
                self.log(
                    minute,
                    "scheduled start: Datero wanted, capacity asked for".into(),
                );
            }
            schedule::Decision::Stop { .. } => {
                self.datero = Datero::Stopped;
                self.idle_since = Some(minute);
                self.log(
                    minute,
                    "scheduled stop: alarm actions off, Datero stopped".into(),
                );
            }
            schedule::Decision::Skip(reason) => {
                if action == Action::Stop {
                    self.datero = Datero::Stopped;
                }
                self.log(minute, format!("scheduled {action:?}: {reason}"));
            }
        }
        if self.settings.morning == MorningReturn::CheckAfterStart && checks_down_alarm(&decision) {
            let check = MorningCheck {
                office_hours_began: event.scheduled_time.clone(),
                owes_recovery: HoursMark::owes_recovery(previous.as_ref()),
            };
            let due = minute + i64::try_from(CHECK_DELAY.as_secs() / 60).unwrap_or(15);
            self.morning_check = Some((due, check));
        }
    }

    /// The restarter's decision on a stopped Datero task (not its own stop).
    fn restart_wanted(&self, minute: i64) -> bool {
        let facts = Facts {
            paused: false,
            wanted: None,
            streak: 0,
            delay_queue: Some("the restart queue".into()),
            after_hours: restart_barred(self.mark.as_ref(), Some(minute * 60_000)),
        };
        matches!(restart_policy::decide(&facts), Decision::RestartNow { .. })
    }

    fn incidents_at(&mut self, minute: i64) {
        let now = Self::utc(minute);
        let happening: Vec<Incident> = self
            .incidents
            .iter()
            .filter(|incident| match incident {
                Incident::Crash { at, .. } | Incident::SpotInterruption { at } => *at == now,
                Incident::NoInstance { .. } => false,
            })
            .cloned()
            .collect();
        for incident in happening {
            match incident {
                Incident::Crash { down_minutes, .. } if self.datero == Datero::Running => {
                    let restart = self.restart_wanted(minute);
                    self.datero = if restart {
                        Datero::Down {
                            until: minute + down_minutes,
                        }
                    } else {
                        Datero::Stopped
                    };
                    self.log(
                        minute,
                        format!("Datero crashed; restarts fail for {down_minutes} min"),
                    );
                }
                Incident::SpotInterruption { .. } if self.instance_here(minute) => {
                    self.instance_gone = Some(minute + SPOT_NOTICE_MINUTES);
                    let had_datero = self.datero == Datero::Running;
                    if had_datero && self.restart_wanted(minute) {
                        // InstanceDrainingRule: the restarter stops Datero (stop timeout),
                        // its STOPPED event asks for a new task on other capacity.
                        self.datero = Datero::Waiting;
                        self.want_capacity(minute + SPOT_NOTICE_MINUTES);
                    }
                    self.log(
                        minute,
                        "Spot notice: instance DRAINING, Datero stopped cleanly to restart elsewhere"
                            .into(),
                    );
                }
                _ => {}
            }
        }
    }

    fn backup(&mut self, minute: i64) {
        let date = self.local(minute).date();
        let ran = |upload_exit_code| {
            Some(BackupRun {
                created_at_ms: Some(minute * 60_000),
                stopped: true,
                upload_exit_code,
            })
        };
        let task = if self.datero == Datero::Running {
            self.log(minute, "backup: dump taken and stored".into());
            ran(Some(0))
        } else if self.incidents.contains(&Incident::NoInstance { date }) {
            // The task waits in PROVISIONING and never runs: it reports nothing itself.
            self.log(minute, "backup: task never placed (no capacity)".into());
            None
        } else {
            // The task's dump finds no PostgreSQL; its upload container reports the failure.
            self.backup_failed.put_sample(minute * 60, 1.0);
            self.log(minute, "backup: Datero not running, the dump fails".into());
            ran(Some(1))
        };
        // BackupWatchSchedule fires with it: the restarter looks CHECK_EVERY later.
        let delay = i64::try_from(backup_watch::CHECK_EVERY.as_secs() / 60).unwrap_or(15);
        self.backup_check = Some((minute, minute + delay, task));
    }

    fn backup_checked(&mut self, minute: i64) {
        let Some((due, at, task)) = self.backup_check.clone() else {
            return;
        };
        if at != minute {
            return;
        }
        self.backup_check = None;
        let runs: Vec<BackupRun> = task.into_iter().collect();
        let verdict = backup_watch::judge(due * 60_000, &runs, 0);
        if let backup_watch::Verdict::Missed(_) = verdict {
            self.backup_failed.put_sample(minute * 60, 1.0);
        }
        self.log(
            minute,
            format!("restarter's backup check: {}", verdict.key()),
        );
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one simulated minute: schedules, incidents, capacity, checks, then CloudWatch's evaluation, in the order they happen"
    )]
    fn tick(&mut self, minute: i64) {
        let local = self.local(minute);
        let fires = |cron: &Option<Cron>| cron.as_ref().is_some_and(|cron| cron.matches(local));
        if fires(&self.settings.stop) {
            self.scheduled(minute, Action::Stop);
        }
        if fires(&self.settings.start) {
            self.scheduled(minute, Action::Start);
        }
        self.incidents_at(minute);
        // Capacity and Datero.
        if let Datero::Down { until } = self.datero
            && minute >= until
        {
            self.datero = Datero::Waiting;
            self.want_capacity(minute);
        }
        if self.instance_gone == Some(minute) {
            self.log(minute, "instance gone".into());
        }
        if self.datero == Datero::Waiting && self.instance_here(minute) {
            self.datero = Datero::Running;
            self.idle_since = None;
            self.log(
                minute,
                "Datero running; ECS publishes MemoryReservation".into(),
            );
        }
        if self.datero == Datero::Stopped
            && let Some(since) = self.idle_since
            && minute - since >= SCALE_IN_MINUTES
            && self.instance_here(minute)
        {
            self.instance_gone = Some(minute);
            self.idle_since = None;
            self.log(minute, "managed scaling removes the idle instance".into());
        }
        if fires(&self.settings.backup) {
            self.backup(minute);
        }
        self.backup_checked(minute);
        if let Some((due, check)) = self.morning_check.clone()
            && due == minute
        {
            self.morning_check = None;
            let running = self.datero == Datero::Running;
            let found = down_alarm::Found {
                datero_running: running,
                actions_enabled: self.down.actions_enabled(),
            };
            for step in down_alarm::after_start(found, &check) {
                let outcome = match step {
                    Step::EnableActions => {
                        self.down.enable_actions();
                        None
                    }
                    Step::SetState { state, reason } => {
                        let state = match state {
                            State::Ok => AlarmState::Ok,
                            State::InsufficientData => AlarmState::InsufficientData,
                            State::Alarm => AlarmState::Alarm,
                        };
                        Some(self.down.set_alarm_state(state, &reason))
                    }
                };
                if let Some(outcome) = outcome
                    && outcome.action.is_some()
                {
                    self.notify(minute, "down", outcome.state);
                }
            }
            let seen = if running { "running" } else { "not running" };
            self.log(
                minute,
                format!("restarter's check: Datero {seen}; alarm actions on"),
            );
        }
        // Metrics for this minute, then CloudWatch's evaluation at its end.
        if self.datero == Datero::Running {
            self.down.put_sample(minute * 60, DATERO_RESERVATION);
        }
        let end = minute * 60 + 60;
        let before = self.down.state();
        let outcome = self.down.evaluate(end);
        if outcome.action.is_some() {
            self.notify(minute + 1, "down", outcome.state);
        } else if outcome.state != before {
            self.log(
                minute + 1,
                format!("evaluation: down alarm {}", outcome.state),
            );
        }
        let outcome = self.backup_failed.evaluate(end);
        if outcome.action.is_some() {
            self.notify(minute + 1, "backup-failed", outcome.state);
        }
    }
}
