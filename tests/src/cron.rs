//! EventBridge Scheduler's cron expressions, for schedules fired on a simulated clock.
//!
//! `cron(minutes hours day-of-month month day-of-week year)`, six fields; one of day-of-month and
//! day-of-week is `?`; day-of-week counts 1-7 from SUN, or names SUN-SAT; months 1-12 or JAN-DEC;
//! `*`, lists `a,b`, ranges `a-b` and increments `a/n` (EventBridge Scheduler User Guide,
//! "Schedule types on EventBridge Scheduler", cron-based schedules). `L`, `W` and `#` are
//! refused: the product's parameters do not need them and a silent mismatch would mislead.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days_of_month: Option<Vec<u32>>,
    months: Vec<u32>,
    days_of_week: Option<Vec<u32>>,
    years: Option<Vec<u32>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Reads `cron(...)`; the error names the field and what was expected.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(|| format!("{expression}: expected cron(<six fields>)"))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "{expression}: expected six fields, found {}",
                fields.len()
            ));
        };
        let cron = Self {
            minutes: field(minutes, 0, 59, &[], "minutes")?,
            hours: field(hours, 0, 23, &[], "hours")?,
            days_of_month: optional(dom, 1, 31, &[], "day-of-month")?,
            months: field(month, 1, 12, &MONTHS, "month")?,
            days_of_week: optional(dow, 1, 7, &DAYS, "day-of-week")?,
            years: if year == "*" {
                None
            } else {
                Some(field(year, 1970, 2199, &[], "year")?)
            },
        };
        // "If you specify a value or a * in one of the fields, you must use a ? in the other."
        if (dom == "?") == (dow == "?") {
            return Err(format!(
                "{expression}: one of day-of-month and day-of-week must be ?"
            ));
        }
        Ok(cron)
    }

    /// Whether the schedule fires at `local` (its time zone's wall clock), to the minute.
    pub fn matches(&self, local: NaiveDateTime) -> bool {
        // Day-of-week 1 is Sunday.
        let weekday = local.weekday().num_days_from_sunday() + 1;
        self.minutes.contains(&local.minute())
            && self.hours.contains(&local.hour())
            && self.months.contains(&local.month())
            && self
                .days_of_month
                .as_ref()
                .is_none_or(|days| days.contains(&local.day()))
            && self
                .days_of_week
                .as_ref()
                .is_none_or(|days| days.contains(&weekday))
            && self
                .years
                .as_ref()
                .is_none_or(|years| u32::try_from(local.year()).is_ok_and(|y| years.contains(&y)))
    }
}

/// A field that may be `?` (no constraint) or `*`.
fn optional(
    text: &str,
    low: u32,
    high: u32,
    names: &[&str],
    what: &str,
) -> Result<Option<Vec<u32>>, String> {
    if text == "?" || text == "*" {
        return Ok(None);
    }
    field(text, low, high, names, what).map(Some)
}

fn field(text: &str, low: u32, high: u32, names: &[&str], what: &str) -> Result<Vec<u32>, String> {
    let mut values = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u32>()
                    .ok()
                    .filter(|step| *step > 0)
                    .ok_or_else(|| format!("{what}: bad increment in {part}"))?,
            ),
            None => (part, 1),
        };
        let (first, last) = if range == "*" {
            (low, high)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, low, what)?, value(b, names, low, what)?)
        } else {
            let start = value(range, names, low, what)?;
            (start, if part.contains('/') { high } else { start })
        };
        if first < low || last > high || first > last {
            return Err(format!("{what}: {part} is outside {low}-{high}"));
        }
        values.extend((first..=last).step_by(step as usize));
    }
    Ok(values)
}

fn value(text: &str, names: &[&str], low: u32, what: &str) -> Result<u32, String> {
    if let Some(index) = names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(low + u32::try_from(index).unwrap_or(0));
    }
    text.parse()
        .map_err(|_| format!("{what}: {text} is not a number or a name this test bed reads"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn working_days_at_eight() {
        let cron = Cron::parse("cron(0 8 ? * MON-FRI *)").unwrap();
        // 2026-11-30 is a Monday, 2026-12-05 a Saturday.
        assert!(cron.matches(at(2026, 11, 30, 8, 0)));
        assert!(cron.matches(at(2026, 12, 4, 8, 0)));
        assert!(!cron.matches(at(2026, 12, 5, 8, 0)));
        assert!(!cron.matches(at(2026, 11, 30, 8, 1)));
        assert!(!cron.matches(at(2026, 11, 30, 9, 0)));
    }

    #[test]
    fn every_day_lists_steps_and_years() {
        let daily = Cron::parse("cron(0 3 * * ? *)").unwrap();
        assert!(daily.matches(at(2026, 12, 6, 3, 0)));
        let steps = Cron::parse("cron(0/15 9-17 ? * 2,4 2026)").unwrap();
        assert!(steps.matches(at(2026, 11, 30, 9, 45)));
        assert!(steps.matches(at(2026, 12, 2, 17, 0)));
        assert!(!steps.matches(at(2026, 12, 1, 9, 0)));
        assert!(!steps.matches(at(2027, 11, 29, 9, 0)));
    }

    #[test]
    fn what_is_not_read_is_refused_by_name() {
        for (bad, named) in [
            ("cron(0 8 * * MON *)", "must be ?"),
            ("cron(0 8 ? * ? *)", "must be ?"),
            ("cron(0 8 ? * MON-FRI)", "six fields"),
            ("cron(0 25 ? * MON *)", "hours"),
            ("cron(0 8 L * ? *)", "day-of-month"),
            ("rate(1 day)", "expected cron"),
        ] {
            let error = Cron::parse(bad).unwrap_err();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }
}
