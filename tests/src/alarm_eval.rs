//! A pure model of how CloudWatch evaluates a metric alarm, for tests on a simulated clock.
//!
//! The caller feeds raw samples ([`MetricAlarm::put_sample`]) and asks for an evaluation at a
//! given time ([`MetricAlarm::evaluate`]), as CloudWatch does about once a minute. Each call
//! returns the alarm's state and the action list that fired, if any: that is how a test counts
//! the SNS notifications an alarm would send.
//!
//! The rules come from the CloudWatch User Guide and API Reference; the comments name the page
//! each rule depends on. Left out on purpose: percentile statistics, high-resolution (10/20/30 s)
//! alarms, metric math, anomaly detection, wall-clock evaluation windows, the `AWS/DynamoDB`
//! namespace that always ignores missing data, and Auto Scaling actions that repeat every period
//! (SNS actions, which this models, fire once per transition).
//!
//! Times are plain seconds since an epoch (`i64`); no calendar is needed.

use std::fmt;

/// How often CloudWatch evaluates an alarm whose period is one minute or longer, in seconds.
// "Alarm evaluation" (User Guide): for any period of one minute or longer, an alarm is
// evaluated every minute.
pub const EVALUATION_INTERVAL_SECONDS: i64 = 60;

/// How many periods the evaluation range holds beyond `evaluation_periods`, unless set.
// "Configuring how CloudWatch alarms treat missing data": the exact size of the evaluation range
// "depends on the length of the alarm period" and is not published; the page's examples use a
// range of 5 for 3 evaluation periods, so the default is N + 2.
const DEFAULT_EXTRA_RANGE_PERIODS: usize = 2;

/// The state reason CloudWatch gives a new alarm before its first evaluation.
const INITIAL_STATE_REASON: &str = "Unchecked: Initial alarm creation";

/// How the aggregated value of a period is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOperator {
    /// Breaching when `value >= threshold`.
    GreaterThanOrEqualToThreshold,
    /// Breaching when `value > threshold`.
    GreaterThanThreshold,
    /// Breaching when `value < threshold`.
    LessThanThreshold,
    /// Breaching when `value <= threshold`.
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    /// Whether `value` breaches `threshold` under this operator.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// The statistic that turns a period's raw samples into one datapoint.
// "CloudWatch statistics definitions": Average is Sum / SampleCount; SampleCount is the number of
// data points used for the statistical calculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// The highest sample of the period.
    Maximum,
    /// The lowest sample of the period.
    Minimum,
    /// All samples of the period added together.
    Sum,
    /// `Sum / SampleCount` over the period.
    Average,
    /// How many samples the period holds.
    SampleCount,
}

impl Statistic {
    /// The period's datapoint, or `None` when the period holds no sample (a missing datapoint).
    pub fn aggregate(self, samples: &[f64]) -> Option<f64> {
        if samples.is_empty() {
            // No sample means no datapoint at all, even for SampleCount: CloudWatch does not
            // invent a zero for a period nobody reported.
            return None;
        }
        let sum: f64 = samples.iter().sum();
        let count = samples.len() as f64;
        Some(match self {
            Self::Maximum => samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::Minimum => samples.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Sum => sum,
            Self::Average => sum / count,
            Self::SampleCount => count,
        })
    }
}

/// How the alarm treats periods that have no datapoint (`TreatMissingData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreatMissingData {
    /// Missing datapoints count as breaching the threshold.
    Breaching,
    /// Missing datapoints count as within the threshold.
    NotBreaching,
    /// The current alarm state is kept when the missing datapoints would decide it.
    Ignore,
    /// AWS's default: all datapoints missing means INSUFFICIENT_DATA.
    // "Configuring how CloudWatch alarms treat missing data": "The default behavior is missing."
    #[default]
    Missing,
}

/// A metric alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// `OK`: the metric is within the threshold.
    Ok,
    /// `ALARM`: the metric is outside the threshold.
    Alarm,
    /// `INSUFFICIENT_DATA`: the alarm has just started or has too little data to decide.
    InsufficientData,
}

impl AlarmState {
    /// The state's name as the CloudWatch API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which of the alarm's action lists fired (`AlarmActions`, `OKActions`,
/// `InsufficientDataActions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmAction {
    /// The alarm actions, run on a transition into ALARM.
    Alarm,
    /// The OK actions, run on a transition into OK.
    Ok,
    /// The insufficient-data actions, run on a transition into INSUFFICIENT_DATA.
    InsufficientData,
}

impl AlarmAction {
    /// The action list that belongs to a state.
    pub fn for_state(state: AlarmState) -> Self {
        match state {
            AlarmState::Alarm => Self::Alarm,
            AlarmState::Ok => Self::Ok,
            AlarmState::InsufficientData => Self::InsufficientData,
        }
    }
}

/// A metric alarm's configuration, as `PutMetricAlarm` takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    /// Length of one period, in seconds (`Period`).
    pub period_seconds: i64,
    /// N, how many of the most recent periods are evaluated (`EvaluationPeriods`).
    pub evaluation_periods: usize,
    /// M, how many of those N datapoints must breach for ALARM (`DatapointsToAlarm`).
    pub datapoints_to_alarm: usize,
    /// The value each datapoint is compared with (`Threshold`).
    pub threshold: f64,
    /// How a datapoint is compared with the threshold (`ComparisonOperator`).
    pub comparison: ComparisonOperator,
    /// How a period's samples become its datapoint (`Statistic`).
    pub statistic: Statistic,
    /// How periods without a datapoint are treated (`TreatMissingData`).
    pub treat_missing_data: TreatMissingData,
    /// Whether actions run on transitions (`ActionsEnabled`); `EnableAlarmActions` and
    /// `DisableAlarmActions` change it on a live alarm.
    pub actions_enabled: bool,
    /// Whether the alarm has any `AlarmActions`.
    pub has_alarm_actions: bool,
    /// Whether the alarm has any `OKActions`.
    pub has_ok_actions: bool,
    /// Whether the alarm has any `InsufficientDataActions`.
    pub has_insufficient_data_actions: bool,
    /// How many of the most recent periods an evaluation retrieves (the guide's *evaluation
    /// range*); at least `evaluation_periods`.
    pub evaluation_range_periods: usize,
}

impl AlarmConfig {
    /// A configuration with AWS's defaults for everything else: missing data treated as
    /// `missing`, actions enabled, no action lists, and an evaluation range of N + 2 periods.
    // "PutMetricAlarm" (API Reference): ActionsEnabled defaults to TRUE.
    pub fn new(
        period_seconds: i64,
        evaluation_periods: usize,
        datapoints_to_alarm: usize,
        threshold: f64,
        comparison: ComparisonOperator,
        statistic: Statistic,
    ) -> Self {
        Self {
            period_seconds,
            evaluation_periods,
            datapoints_to_alarm,
            threshold,
            comparison,
            statistic,
            treat_missing_data: TreatMissingData::default(),
            actions_enabled: true,
            has_alarm_actions: false,
            has_ok_actions: false,
            has_insufficient_data_actions: false,
            evaluation_range_periods: evaluation_periods + DEFAULT_EXTRA_RANGE_PERIODS,
        }
    }

    /// Whether the alarm has an action list for `state`.
    pub fn has_actions_for(&self, state: AlarmState) -> bool {
        match state {
            AlarmState::Alarm => self.has_alarm_actions,
            AlarmState::Ok => self.has_ok_actions,
            AlarmState::InsufficientData => self.has_insufficient_data_actions,
        }
    }

    fn validate(&self) -> Result<(), InvalidAlarmConfig> {
        let problem = if self.period_seconds <= 0 {
            "period_seconds must be positive"
        } else if self.evaluation_periods == 0 {
            "evaluation_periods must be at least 1"
        } else if self.datapoints_to_alarm == 0
            || self.datapoints_to_alarm > self.evaluation_periods
        {
            // "Alarm evaluation": M counts datapoints within the N evaluation periods.
            "datapoints_to_alarm must be between 1 and evaluation_periods"
        } else if self.evaluation_range_periods < self.evaluation_periods {
            "evaluation_range_periods must be at least evaluation_periods"
        } else if !self.threshold.is_finite() {
            "threshold must be a finite number"
        } else {
            return Ok(());
        };
        Err(InvalidAlarmConfig {
            reason: problem.to_string(),
        })
    }
}

/// A configuration CloudWatch would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAlarmConfig {
    /// What is wrong with the configuration.
    pub reason: String,
}

impl fmt::Display for InvalidAlarmConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "invalid alarm configuration: {}", self.reason)
    }
}

impl std::error::Error for InvalidAlarmConfig {}

/// What one evaluation or state change did to the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state before the call.
    pub previous_state: AlarmState,
    /// The state after the call.
    pub state: AlarmState,
    /// The action list that ran: only on a transition, with actions enabled, and when the alarm
    /// has actions for the new state.
    pub action: Option<AlarmAction>,
    /// How many of the N evaluated datapoints had to be filled in because they were missing (the
    /// second column of the guide's tables); 0 for a `set_alarm_state`.
    pub filled_points: usize,
}

impl StateChange {
    /// Whether the state changed.
    pub fn transitioned(&self) -> bool {
        self.previous_state != self.state
    }
}

/// One period of the evaluation range, compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datapoint {
    Breaching,
    NotBreaching,
    Missing,
}

/// What the datapoints say about the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Becomes(AlarmState),
    /// The `ignore` treatment: keep the state the alarm already has.
    KeepsCurrentState,
}

#[derive(Debug, Clone, PartialEq)]
struct Decision {
    verdict: Verdict,
    filled_points: usize,
    reason: String,
}

/// A raw sample fed to the alarm's metric.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    time: i64,
    value: f64,
}

/// One metric alarm: its configuration, the samples of its metric, and its state.
#[derive(Debug, Clone)]
pub struct MetricAlarm {
    config: AlarmConfig,
    samples: Vec<Sample>,
    state: AlarmState,
    /// The state the last evaluation reached, which a `set_alarm_state` does not touch: the
    /// "actual state" the SetAlarmState reference says a metric alarm returns to.
    evaluated_state: AlarmState,
    state_reason: String,
}

impl MetricAlarm {
    /// A new alarm, in INSUFFICIENT_DATA.
    // "Alarm evaluation": INSUFFICIENT_DATA – "The alarm has just started".
    pub fn new(config: AlarmConfig) -> Result<Self, InvalidAlarmConfig> {
        config.validate()?;
        Ok(Self {
            config,
            samples: Vec::new(),
            state: AlarmState::InsufficientData,
            evaluated_state: AlarmState::InsufficientData,
            state_reason: INITIAL_STATE_REASON.to_string(),
        })
    }

    /// The alarm's configuration, with `actions_enabled` as it is now.
    pub fn config(&self) -> &AlarmConfig {
        &self.config
    }

    /// The alarm's current state.
    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// Why the alarm is in its current state.
    pub fn state_reason(&self) -> &str {
        &self.state_reason
    }

    /// Whether actions run on transitions.
    pub fn actions_enabled(&self) -> bool {
        self.config.actions_enabled
    }

    /// Records one raw sample of the metric at `time` (what `PutMetricData` would send).
    pub fn put_sample(&mut self, time: i64, value: f64) {
        self.samples.push(Sample { time, value });
    }

    /// The datapoint of each period in the evaluation range at `now`, oldest first; `None` for a
    /// period without samples.
    ///
    /// Periods slide with the evaluation time: the newest period is `[now - period, now)`, the
    /// one before it `[now - 2 * period, now - period)`, and so on.
    // "Alarm evaluation": with a 5-minute period and 1 evaluation period, the alarm is evaluated
    // at the end of minute 5 on the data of minutes 1 to 5, at the end of minute 6 on minutes 2
    // to 6 (the default sliding window; wall-clock windows are not modelled).
    pub fn period_values(&self, now: i64) -> Vec<Option<f64>> {
        let period = self.config.period_seconds;
        (1..=self.config.evaluation_range_periods)
            .rev()
            .map(|periods_back| {
                let start = now - period * periods_back as i64;
                let end = start + period;
                let in_period: Vec<f64> = self
                    .samples
                    .iter()
                    .filter(|sample| sample.time >= start && sample.time < end)
                    .map(|sample| sample.value)
                    .collect();
                self.config.statistic.aggregate(&in_period)
            })
            .collect()
    }

    /// Evaluates the alarm at `now`, as CloudWatch's once-a-minute evaluation does, and moves it
    /// to the state its datapoints call for.
    pub fn evaluate(&mut self, now: i64) -> StateChange {
        let datapoints: Vec<Datapoint> = self
            .period_values(now)
            .into_iter()
            .map(|value| match value {
                None => Datapoint::Missing,
                Some(value)
                    if self
                        .config
                        .comparison
                        .breaches(value, self.config.threshold) =>
                {
                    Datapoint::Breaching
                }
                Some(_) => Datapoint::NotBreaching,
            })
            .collect();
        let decision = decide(&self.config, &datapoints);
        let new_state = match decision.verdict {
            Verdict::Becomes(state) => state,
            // Keeping the evaluated state, not a state forced by SetAlarmState: that one lasts
            // only until the next evaluation ("SetAlarmState" API reference: metric alarms
            // return to their actual state quickly).
            Verdict::KeepsCurrentState => self.evaluated_state,
        };
        self.evaluated_state = new_state;
        self.move_to(new_state, decision.reason, decision.filled_points)
    }

    /// Sets the state at once, as the `SetAlarmState` API does for testing. A change of state
    /// runs that state's actions (if enabled); the next [`evaluate`](Self::evaluate) puts the
    /// alarm back in the state its datapoints call for.
    // "SetAlarmState" (API Reference): "When the updated state differs from the previous value,
    // the action configured for the appropriate state is invoked", and "Metric alarms returns to
    // their actual state quickly".
    pub fn set_alarm_state(&mut self, state: AlarmState, reason: &str) -> StateChange {
        self.move_to(state, reason.to_string(), 0)
    }

    /// Turns actions on (`EnableAlarmActions`); changes no state and runs no action by itself.
    pub fn enable_actions(&mut self) {
        self.config.actions_enabled = true;
    }

    /// Turns actions off (`DisableAlarmActions`): states still change, but no action runs.
    // "DisableAlarmActions" (API Reference): "When an alarm's actions are disabled, the alarm
    // actions do not execute when the alarm state changes."
    pub fn disable_actions(&mut self) {
        self.config.actions_enabled = false;
    }

    fn move_to(
        &mut self,
        new_state: AlarmState,
        reason: String,
        filled_points: usize,
    ) -> StateChange {
        let previous_state = self.state;
        let transitioned = new_state != previous_state;
        // Actions run on a change of state only, never for staying in a state. "Using Amazon
        // CloudWatch alarms": alarms "do not invoke actions simply because they are in a
        // particular state, the state must have changed"; for SNS "no additional actions are
        // invoked" while the new state holds.
        let action =
            (transitioned && self.config.actions_enabled && self.config.has_actions_for(new_state))
                .then(|| AlarmAction::for_state(new_state));
        if transitioned {
            self.state = new_state;
            self.state_reason = reason;
        }
        StateChange {
            previous_state,
            state: new_state,
            action,
            filled_points,
        }
    }
}

/// Decides the state from the evaluation range's datapoints (oldest first), following
/// "Configuring how CloudWatch alarms treat missing data", section "How alarm state is evaluated
/// when data is missing", and its subsection "Avoiding premature transitions to alarm state".
#[expect(
    clippy::too_many_lines,
    reason = "CloudWatch's evaluation rules, one branch per case of the guide's tables"
)]
fn decide(config: &AlarmConfig, range: &[Datapoint]) -> Decision {
    let needed = config.evaluation_periods;
    let to_alarm = config.datapoints_to_alarm;
    // Real datapoints, newest first, each with its age in periods (1 = the newest period).
    let real: Vec<(usize, bool)> = range
        .iter()
        .rev()
        .enumerate()
        .filter_map(|(index, datapoint)| match datapoint {
            Datapoint::Breaching => Some((index + 1, true)),
            Datapoint::NotBreaching => Some((index + 1, false)),
            Datapoint::Missing => None,
        })
        .collect();

    // "If some data points in the evaluation range are missing, but the total number of existing
    // data points ... is equal to or more than the alarm's Evaluation Periods, CloudWatch
    // evaluates the alarm state based on the most recent real data points": the treatment of
    // missing data plays no part.
    if real.len() >= needed {
        let breaching = real
            .iter()
            .take(needed)
            .filter(|(_, breaches)| *breaches)
            .count();
        let state = if breaching >= to_alarm {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        return Decision {
            verdict: Verdict::Becomes(state),
            filled_points: 0,
            reason: format!(
                "{breaching} of the last {needed} datapoints breached the threshold \
                 ({to_alarm} needed for ALARM)"
            ),
        };
    }

    // Otherwise CloudWatch "fills in the missing data points with the result you specified for
    // how to treat missing data", using missing points "as few times as possible".
    let filled_points = needed - real.len();
    let breaching_real = real.iter().filter(|(_, breaches)| *breaches).count();
    let treatment = config.treat_missing_data;
    let reason = format!(
        "{breaching_real} of {} real datapoints breached the threshold; {filled_points} missing \
         datapoints treated as {treatment:?} ({to_alarm} of {needed} needed for ALARM)",
        real.len()
    );
    let decided = |verdict| Decision {
        verdict,
        filled_points,
        reason: reason.clone(),
    };
    let alarm_if = |breaching: bool| {
        Verdict::Becomes(if breaching {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        })
    };

    match treatment {
        TreatMissingData::Breaching => {
            decided(alarm_if(breaching_real + filled_points >= to_alarm))
        }
        TreatMissingData::NotBreaching => decided(alarm_if(breaching_real >= to_alarm)),
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            if real.is_empty() {
                // "missing – If all data points in the alarm evaluation range are missing, the
                // alarm transitions to INSUFFICIENT_DATA"; "ignore – The current alarm state is
                // maintained" (table row "- - - - -").
                return decided(if treatment == TreatMissingData::Missing {
                    Verdict::Becomes(AlarmState::InsufficientData)
                } else {
                    Verdict::KeepsCurrentState
                });
            }
            // Neither treatment says what a missing point is, so the state is decided only when
            // the real points settle it whatever the missing ones would be: ALARM if they
            // already hold M breaches (pessimistic and optimistic agree), OK if even counting
            // every missing point as breaching could not reach M.
            if breaching_real >= to_alarm {
                return decided(Verdict::Becomes(AlarmState::Alarm));
            }
            if breaching_real + filled_points < to_alarm {
                return decided(Verdict::Becomes(AlarmState::Ok));
            }
            // Undecided by the real points. With a non-breaching real point among them the
            // guide's M-out-of-N table resolves optimistically, to OK (rows "0 - X - -" and
            // "- - - - 0" with 2 of 3: OK for both missing and ignore).
            if real.iter().any(|(_, breaches)| !breaches) {
                return decided(Verdict::Becomes(AlarmState::Ok));
            }
            // Every real point breaches. "Avoiding premature transitions to alarm state": the
            // alarm goes to ALARM "when the oldest breaching data point during the evaluation
            // range is at least as old as the value of Datapoints to Alarm, and all of the more
            // recent data points are either breaching or missing" (rows "- - X - -" with 3 of 3
            // and "- - - X -" with 2 of 3); for those rows the table gives `ignore` "Retain
            // current state". Younger breaches do not alarm yet, "because the next data point
            // may be non-breaching".
            let oldest_breach_age = real.last().map_or(0, |(age, _)| *age);
            let breach_is_old_enough = oldest_breach_age >= to_alarm;
            decided(match (treatment, breach_is_old_enough) {
                (TreatMissingData::Missing, true) => Verdict::Becomes(AlarmState::Alarm),
                // Not in the current table; an earlier revision of the same table gave
                // INSUFFICIENT_DATA (missing) / retain (ignore) for "- - - - X".
                (TreatMissingData::Missing, false) => {
                    Verdict::Becomes(AlarmState::InsufficientData)
                }
                (_, _) => Verdict::KeepsCurrentState,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: i64 = 300;
    const THRESHOLD: f64 = 10.0;
    const BREACHING_VALUE: f64 = 20.0;
    const NOT_BREACHING_VALUE: f64 = 1.0;
    /// An arbitrary evaluation time, far from the epoch so older periods stay positive.
    const NOW: i64 = 1_000_000;

    fn config(evaluation_periods: usize, datapoints_to_alarm: usize) -> AlarmConfig {
        AlarmConfig::new(
            PERIOD,
            evaluation_periods,
            datapoints_to_alarm,
            THRESHOLD,
            ComparisonOperator::GreaterThanThreshold,
            Statistic::Maximum,
        )
    }

    fn with_all_actions(mut config: AlarmConfig) -> AlarmConfig {
        config.has_alarm_actions = true;
        config.has_ok_actions = true;
        config.has_insufficient_data_actions = true;
        config
    }

    fn alarm(config: AlarmConfig) -> MetricAlarm {
        MetricAlarm::new(config).expect("valid test configuration")
    }

    /// The middle of the period `periods_back` periods before `now` (1 = the newest period).
    fn in_period(now: i64, periods_back: i64) -> i64 {
        now - periods_back * PERIOD + PERIOD / 2
    }

    /// Feeds a pattern in the guide's notation, oldest first, ending just before `now`:
    /// `0` a non-breaching datapoint, `X` a breaching one, `-` a missing one.
    fn feed_pattern(alarm: &mut MetricAlarm, pattern: &str, now: i64) {
        let symbols: Vec<&str> = pattern.split_whitespace().collect();
        for (index, symbol) in symbols.iter().enumerate() {
            let periods_back = (symbols.len() - index) as i64;
            match *symbol {
                "0" => alarm.put_sample(in_period(now, periods_back), NOT_BREACHING_VALUE),
                "X" => alarm.put_sample(in_period(now, periods_back), BREACHING_VALUE),
                "-" => {}
                other => panic!("unknown datapoint symbol {other:?} in {pattern:?}"),
            }
        }
    }

    /// An expected cell of AWS's table.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Cell {
        Is(AlarmState),
        RetainCurrentState,
    }
    use Cell::{Is, RetainCurrentState};
    const OK: Cell = Is(AlarmState::Ok);
    const ALARM: Cell = Is(AlarmState::Alarm);
    const INSUFFICIENT_DATA: Cell = Is(AlarmState::InsufficientData);

    /// One row of AWS's table: the datapoints (oldest first), the "# of data points that must be
    /// filled" column, then the state for MISSING, IGNORE, BREACHING, NOT BREACHING.
    type TableRow = (&'static str, usize, [Cell; 4]);

    const TREATMENTS: [TreatMissingData; 4] = [
        TreatMissingData::Missing,
        TreatMissingData::Ignore,
        TreatMissingData::Breaching,
        TreatMissingData::NotBreaching,
    ];

    /// Brings a fresh alarm to `prior` with real data older than the table's evaluation range,
    /// so that the table's pattern alone is in range at `NOW`.
    fn alarm_in_state(config: AlarmConfig, prior: AlarmState) -> MetricAlarm {
        let mut alarm = alarm(config);
        let range = alarm.config().evaluation_range_periods as i64;
        let earlier = NOW - range * PERIOD;
        let value = match prior {
            AlarmState::InsufficientData => return alarm,
            AlarmState::Alarm => BREACHING_VALUE,
            AlarmState::Ok => NOT_BREACHING_VALUE,
        };
        for periods_back in 1..=range {
            alarm.put_sample(in_period(earlier, periods_back), value);
        }
        assert_eq!(alarm.evaluate(earlier).state, prior);
        alarm
    }

    fn check_table(evaluation_periods: usize, datapoints_to_alarm: usize, table: &[TableRow]) {
        for &(pattern, filled_points, cells) in table {
            for (treatment, expected) in TREATMENTS.into_iter().zip(cells) {
                // Every cell is checked from each prior state, which is what tells a retained
                // state apart from one the datapoints decide.
                for prior in [
                    AlarmState::InsufficientData,
                    AlarmState::Ok,
                    AlarmState::Alarm,
                ] {
                    let mut config = config(evaluation_periods, datapoints_to_alarm);
                    config.treat_missing_data = treatment;
                    let mut alarm = alarm_in_state(config, prior);
                    feed_pattern(&mut alarm, pattern, NOW);
                    let outcome = alarm.evaluate(NOW);
                    let expected_state = match expected {
                        Is(state) => state,
                        RetainCurrentState => prior,
                    };
                    assert_eq!(
                        outcome.state, expected_state,
                        "{datapoints_to_alarm} of {evaluation_periods}, row {pattern:?}, \
                         {treatment:?}, from {prior}"
                    );
                    assert_eq!(
                        outcome.filled_points, filled_points,
                        "filled points of row {pattern:?}, {treatment:?}"
                    );
                }
            }
        }
    }

    // AWS's table, copied as data from the CloudWatch User Guide page "Configuring how
    // CloudWatch alarms treat missing data", section "How alarm state is evaluated when data is
    // missing": Datapoints to Alarm 3, Evaluation Periods 3, evaluation range 5. Text as of the
    // guide's last public source revision (awsdocs/amazon-cloudwatch-user-guide, 2023-05-17).
    #[test]
    fn aws_missing_data_table_three_of_three() {
        let table: [TableRow; 5] = [
            // Data points, filled, MISSING, IGNORE, BREACHING, NOT BREACHING
            ("0 - X - X", 0, [OK, OK, OK, OK]),
            ("0 - - - -", 2, [OK, OK, OK, OK]),
            (
                "- - - - -",
                3,
                [INSUFFICIENT_DATA, RetainCurrentState, ALARM, OK],
            ),
            ("0 X X - X", 0, [ALARM, ALARM, ALARM, ALARM]),
            ("- - X - -", 2, [ALARM, RetainCurrentState, ALARM, OK]),
        ];
        check_table(3, 3, &table);
    }

    // AWS's second table on the same page ("Configuring how CloudWatch alarms treat missing
    // data"): Period 5 minutes, Datapoints to Alarm 2, Evaluation Periods 3 (2 out of 3),
    // evaluation range 5. Its second column is headed "# of missing data points".
    #[test]
    fn aws_missing_data_table_two_of_three() {
        let table: [TableRow; 5] = [
            // Data points, missing, MISSING, IGNORE, BREACHING, NOT BREACHING
            ("0 - X - X", 0, [ALARM, ALARM, ALARM, ALARM]),
            ("0 0 X 0 X", 0, [ALARM, ALARM, ALARM, ALARM]),
            ("0 - X - -", 1, [OK, OK, ALARM, OK]),
            ("- - - - 0", 2, [OK, OK, ALARM, OK]),
            ("- - - X -", 2, [ALARM, RetainCurrentState, ALARM, OK]),
        ];
        check_table(3, 2, &table);
    }

    // Not in the current tables: rows of an earlier revision of the same AWS tables (User Guide
    // source, June 2019), kept because the current text still says the alarm "does not go
    // immediately into ALARM state when the data is either - - - - X or - - - X -".
    #[test]
    fn young_breach_alone_is_insufficient_data_not_alarm() {
        let row: [TableRow; 1] = [(
            "- - - - X",
            2,
            [INSUFFICIENT_DATA, RetainCurrentState, ALARM, OK],
        )];
        check_table(3, 3, &row);
        check_table(3, 2, &row);
    }

    #[test]
    fn new_alarm_starts_in_insufficient_data() {
        let mut alarm = alarm(with_all_actions(config(3, 3)));
        assert_eq!(alarm.state(), AlarmState::InsufficientData);
        assert_eq!(alarm.state_reason(), INITIAL_STATE_REASON);
        // No data at all with the default `missing` treatment: still INSUFFICIENT_DATA, and no
        // transition, so no action.
        let outcome = alarm.evaluate(NOW);
        assert_eq!(outcome.state, AlarmState::InsufficientData);
        assert_eq!(outcome.action, None);
    }

    #[test]
    fn actions_fire_only_on_transitions() {
        let mut alarm = alarm(with_all_actions(config(1, 1)));
        let mut now = NOW;
        let mut notifications = Vec::new();
        // Four periods breaching, then four not: evaluate every minute, as CloudWatch does.
        for period_index in 0..8 {
            let value = if period_index < 4 {
                BREACHING_VALUE
            } else {
                NOT_BREACHING_VALUE
            };
            alarm.put_sample(now + 1, value);
            for _ in 0..(PERIOD / EVALUATION_INTERVAL_SECONDS) {
                now += EVALUATION_INTERVAL_SECONDS;
                if let Some(action) = alarm.evaluate(now).action {
                    notifications.push(action);
                }
            }
        }
        assert_eq!(notifications, vec![AlarmAction::Alarm, AlarmAction::Ok]);
        assert_eq!(alarm.state(), AlarmState::Ok);
    }

    #[test]
    fn transition_into_a_state_without_actions_fires_nothing() {
        let mut config = config(1, 1);
        config.has_alarm_actions = true;
        let mut alarm = alarm(config);
        alarm.put_sample(in_period(NOW, 1), NOT_BREACHING_VALUE);
        let outcome = alarm.evaluate(NOW);
        assert!(outcome.transitioned());
        assert_eq!(outcome.state, AlarmState::Ok);
        assert_eq!(outcome.action, None);
    }

    #[test]
    fn disabled_actions_change_state_but_fire_nothing() {
        let mut alarm = alarm(with_all_actions(config(1, 1)));
        alarm.disable_actions();
        assert!(!alarm.actions_enabled());
        alarm.put_sample(in_period(NOW, 1), BREACHING_VALUE);
        let outcome = alarm.evaluate(NOW);
        assert_eq!(outcome.state, AlarmState::Alarm);
        assert_eq!(outcome.action, None);

        // Enabling actions is no transition: nothing fires, even while in ALARM.
        alarm.enable_actions();
        let later = NOW + EVALUATION_INTERVAL_SECONDS;
        alarm.put_sample(in_period(later, 1), BREACHING_VALUE);
        assert_eq!(alarm.evaluate(later).action, None);

        // The next real transition fires again.
        let recovered = later + PERIOD;
        alarm.put_sample(in_period(recovered, 1), NOT_BREACHING_VALUE);
        let outcome = alarm.evaluate(recovered);
        assert_eq!(outcome.state, AlarmState::Ok);
        assert_eq!(outcome.action, Some(AlarmAction::Ok));
    }

    #[test]
    fn set_alarm_state_fires_new_state_actions_until_next_evaluation() {
        let mut alarm = alarm(with_all_actions(config(1, 1)));
        alarm.put_sample(in_period(NOW, 1), NOT_BREACHING_VALUE);
        assert_eq!(alarm.evaluate(NOW).state, AlarmState::Ok);

        let forced = alarm.set_alarm_state(AlarmState::Alarm, "testing the SNS topic");
        assert_eq!(forced.previous_state, AlarmState::Ok);
        assert_eq!(forced.state, AlarmState::Alarm);
        assert_eq!(forced.action, Some(AlarmAction::Alarm));
        assert_eq!(alarm.state_reason(), "testing the SNS topic");

        // Setting the state it already has is no change, so no action.
        let repeated = alarm.set_alarm_state(AlarmState::Alarm, "again");
        assert_eq!(repeated.action, None);

        // The next evaluation puts back the state the data calls for, and that is a transition.
        let later = NOW + EVALUATION_INTERVAL_SECONDS;
        alarm.put_sample(in_period(later, 1), NOT_BREACHING_VALUE);
        let restored = alarm.evaluate(later);
        assert_eq!(restored.state, AlarmState::Ok);
        assert_eq!(restored.action, Some(AlarmAction::Ok));
    }

    #[test]
    fn set_alarm_state_with_actions_disabled_fires_nothing() {
        let mut alarm = alarm(with_all_actions(config(1, 1)));
        alarm.disable_actions();
        let forced = alarm.set_alarm_state(AlarmState::Alarm, "testing");
        assert_eq!(forced.state, AlarmState::Alarm);
        assert_eq!(forced.action, None);
    }

    #[test]
    fn ignore_keeps_the_evaluated_state_not_a_forced_one() {
        let mut config = with_all_actions(config(3, 3));
        config.treat_missing_data = TreatMissingData::Ignore;
        let mut alarm = alarm_in_state(config, AlarmState::Ok);
        alarm.set_alarm_state(AlarmState::Alarm, "testing");
        // All datapoints missing: `ignore` keeps the state, which is the evaluated OK, because
        // the forced ALARM lasts only until the next evaluation.
        let outcome = alarm.evaluate(NOW);
        assert_eq!(outcome.state, AlarmState::Ok);
        assert_eq!(outcome.action, Some(AlarmAction::Ok));
    }

    #[test]
    fn maximum_takes_the_highest_sample_of_each_period() {
        let mut alarm = alarm(config(1, 1));
        for value in [1.0, 50.0, 2.0] {
            alarm.put_sample(in_period(NOW, 1), value);
        }
        alarm.put_sample(in_period(NOW, 2), 3.0);
        let values = alarm.period_values(NOW);
        assert_eq!(values, vec![None, Some(3.0), Some(50.0)]);
        assert_eq!(alarm.evaluate(NOW).state, AlarmState::Alarm);
    }

    #[test]
    fn sum_adds_samples_that_each_stay_below_the_threshold() {
        let mut config = config(1, 1);
        config.statistic = Statistic::Sum;
        let mut alarm = alarm(config);
        for _ in 0..3 {
            alarm.put_sample(in_period(NOW, 1), 4.0);
        }
        assert_eq!(alarm.period_values(NOW).last(), Some(&Some(12.0)));
        assert_eq!(alarm.evaluate(NOW).state, AlarmState::Alarm);

        // With Maximum the same samples stay within the threshold.
        let mut config = self::config(1, 1);
        config.statistic = Statistic::Maximum;
        let mut alarm = self::alarm(config);
        for _ in 0..3 {
            alarm.put_sample(in_period(NOW, 1), 4.0);
        }
        assert_eq!(alarm.evaluate(NOW).state, AlarmState::Ok);
    }

    #[test]
    fn other_statistics_aggregate_per_period() {
        let samples = [2.0, 4.0, 9.0];
        assert_eq!(Statistic::Minimum.aggregate(&samples), Some(2.0));
        assert_eq!(Statistic::Average.aggregate(&samples), Some(5.0));
        assert_eq!(Statistic::SampleCount.aggregate(&samples), Some(3.0));
        assert_eq!(Statistic::SampleCount.aggregate(&[]), None);
    }

    #[test]
    fn samples_belong_to_the_period_that_starts_at_or_before_them() {
        let mut config = config(1, 1);
        config.statistic = Statistic::SampleCount;
        let mut alarm = alarm(config);
        // Periods are [start, end): a sample at `NOW - PERIOD` opens the newest period, one at
        // `NOW` belongs to the next one.
        alarm.put_sample(NOW - PERIOD, 1.0);
        alarm.put_sample(NOW - PERIOD - 1, 1.0);
        alarm.put_sample(NOW, 1.0);
        assert_eq!(alarm.period_values(NOW), vec![None, Some(1.0), Some(1.0)]);
    }

    #[test]
    fn m_out_of_n_needs_m_breaching_among_the_last_n() {
        let cases = [
            ("X 0 X", AlarmState::Alarm),
            ("0 0 X", AlarmState::Ok),
            ("X X 0", AlarmState::Alarm),
            // Older breaches beyond the last N real datapoints do not count.
            ("X X 0 0 X", AlarmState::Ok),
        ];
        for (pattern, expected) in cases {
            let mut alarm = alarm(config(3, 2));
            feed_pattern(&mut alarm, pattern, NOW);
            assert_eq!(alarm.evaluate(NOW).state, expected, "2 of 3, {pattern:?}");
        }
        // 3 out of 5: three breaches anywhere in the last five.
        let mut alarm = alarm({
            let mut config = config(5, 3);
            config.evaluation_range_periods = 7;
            config
        });
        feed_pattern(&mut alarm, "X 0 X 0 X", NOW);
        assert_eq!(alarm.evaluate(NOW).state, AlarmState::Alarm);
    }

    #[test]
    fn comparison_operators_treat_the_threshold_itself_as_documented() {
        use ComparisonOperator::*;
        assert!(GreaterThanOrEqualToThreshold.breaches(10.0, 10.0));
        assert!(!GreaterThanThreshold.breaches(10.0, 10.0));
        assert!(LessThanOrEqualToThreshold.breaches(10.0, 10.0));
        assert!(!LessThanThreshold.breaches(10.0, 10.0));
        assert!(LessThanThreshold.breaches(9.0, 10.0));
        assert!(GreaterThanThreshold.breaches(11.0, 10.0));
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let mut too_many_to_alarm = config(3, 4);
        assert!(MetricAlarm::new(too_many_to_alarm.clone()).is_err());
        too_many_to_alarm.datapoints_to_alarm = 0;
        assert!(MetricAlarm::new(too_many_to_alarm).is_err());

        let mut zero_period = config(1, 1);
        zero_period.period_seconds = 0;
        assert!(MetricAlarm::new(zero_period).is_err());

        let mut short_range = config(3, 3);
        short_range.evaluation_range_periods = 2;
        let error = MetricAlarm::new(short_range).expect_err("range shorter than N");
        assert!(error.to_string().contains("evaluation_range_periods"));
    }
}
