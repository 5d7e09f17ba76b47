//! Cost and budgets. A request whose key has a budget reserves its worst-case cost before it is
//! sent (input estimated from the body, output from its token limit, at the priciest
//! candidate); the reservation is replaced by the real cost when it finishes. Checking and
//! reserving happen under one lock, so concurrent requests can never together pass a limit
//! that each would pass alone.

use std::collections::HashMap;
use std::sync::Mutex;

use omniroute_storage::Price;
use omniroute_translate::TokenUsage;

/// Micro-dollars for a request's tokens, rounded up so that many tiny requests are not free.
pub(crate) fn cost_micros(p: Price, u: &TokenUsage) -> i64 {
    let cached = u.cache_read.unwrap_or(0).min(u.input);
    let uncached = u.input - cached;
    let nano_total = i128::from(uncached) * i128::from(p.input)
        + i128::from(cached) * i128::from(p.cached)
        + i128::from(u.output) * i128::from(p.output);
    // Prices are micro-dollars per million tokens.
    i64::try_from((nano_total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

/// The largest cost a request can reach: `input` and `output` tokens at the price.
pub(crate) fn worst_case(p: Price, input: u64, output: u64) -> i64 {
    let usage = TokenUsage { input, output, ..TokenUsage::default() };
    cost_micros(Price { cached: p.input.max(p.cached), ..p }, &usage)
}

/// Days since 1970-01-01 (UTC) of a Unix time in ms.
pub(crate) fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// (year, month 1..=12) of a day number (Howard Hinnant's civil-from-days).
pub(crate) fn civil(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The day number of the first day of a month.
pub(crate) fn first_of_month(year: i64, month: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix ms from Unix ms or a `YYYY-MM-DD` date (UTC midnight); `None` if it is neither.
pub(crate) fn parse_time(v: &str) -> Option<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return Some(ms);
    }
    let mut parts = v.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (y, m, d): (i64, u32, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some((first_of_month(y, m) + d - 1) * 86_400_000)
}

#[derive(Debug, Default, Clone, Copy)]
struct Spend {
    day: i64,
    day_spent: i64,
    month: (i64, u32),
    month_spent: i64,
    reserved: i64,
}

impl Spend {
    fn roll(&mut self, now_ms: i64) {
        let day = day_of(now_ms);
        if day != self.day {
            self.day = day;
            self.day_spent = 0;
        }
        let month = civil(day);
        if month != self.month {
            self.month = month;
            self.month_spent = 0;
        }
    }
}

/// A request that exceeded a budget.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Exceeded {
    pub(crate) period: &'static str,
    pub(crate) limit: i64,
    pub(crate) committed: i64,
}

/// Per-key spending this day and month, plus what in-flight requests have reserved.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    spend: Mutex<HashMap<String, Spend>>,
}

impl Budgets {
    /// Starts from what the database says each key spent today and this month.
    pub(crate) fn load(
        today: &HashMap<String, i64>,
        month: &HashMap<String, i64>,
        now_ms: i64,
    ) -> Budgets {
        let day = day_of(now_ms);
        let mut map = HashMap::new();
        for (k, m) in month {
            map.insert(
                k.clone(),
                Spend {
                    day,
                    day_spent: today.get(k).copied().unwrap_or(0),
                    month: civil(day),
                    month_spent: *m,
                    reserved: 0,
                },
            );
        }
        Budgets { spend: Mutex::new(map) }
    }

    /// Reserves `amount` for `key` if both limits leave room for it.
    pub(crate) fn reserve(
        &self,
        key: &str,
        daily: Option<i64>,
        monthly: Option<i64>,
        amount: i64,
        now_ms: i64,
    ) -> Result<(), Exceeded> {
        let mut map = self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.entry(key.to_owned()).or_default();
        s.roll(now_ms);
        for (period, limit, spent) in
            [("daily", daily, s.day_spent), ("monthly", monthly, s.month_spent)]
        {
            if let Some(limit) = limit
                && spent + s.reserved + amount > limit
            {
                return Err(Exceeded { period, limit, committed: spent + s.reserved });
            }
        }
        s.reserved += amount;
        Ok(())
    }

    /// Replaces a reservation by the real cost (0 if the request was never answered).
    pub(crate) fn settle(&self, key: &str, reserved: i64, cost: i64, now_ms: i64) {
        let mut map = self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.entry(key.to_owned()).or_default();
        s.roll(now_ms);
        s.reserved = (s.reserved - reserved).max(0);
        s.day_spent += cost;
        s.month_spent += cost;
    }

    /// (today, this month) in micro-dollars.
    pub(crate) fn spent_by(&self, key: &str, now_ms: i64) -> (i64, i64) {
        let mut map = self.spend.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get_mut(key) {
            Some(s) => {
                s.roll(now_ms);
                (s.day_spent, s.month_spent)
            }
            None => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_round_up_and_split_cached_input() {
        let p = Price { input: 3_000_000, output: 15_000_000, cached: 300_000 };
        let u = TokenUsage {
            input: 1_000,
            output: 100,
            cache_read: Some(400),
            ..TokenUsage::default()
        };
        // 600 * 3 + 400 * 0.3 + 100 * 15 = 1800 + 120 + 1500 micro-dollars
        assert_eq!(cost_micros(p, &u), 3_420);
        let one = TokenUsage { input: 1, ..TokenUsage::default() };
        assert_eq!(cost_micros(Price { input: 150_000, output: 0, cached: 0 }, &one), 1);
        assert_eq!(cost_micros(Price::default(), &u), 0);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1795564800000"), Some(1_795_564_800_000));
        assert_eq!(parse_time("2026-11-25"), Some(1_795_564_800_000));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1));
        // 2026-11-25
        let d = day_of(1_795_564_800_000);
        assert_eq!(civil(d), (2026, 11));
        assert_eq!(civil(first_of_month(2026, 11)), (2026, 11));
        assert_eq!(civil(first_of_month(2026, 11) - 1), (2026, 10));
        assert_eq!(first_of_month(1970, 1), 0);
        assert_eq!(first_of_month(2024, 3) - first_of_month(2024, 2), 29);
    }

    #[test]
    fn reservations_never_pass_a_limit_together() {
        let b = Budgets::default();
        let now = 1_795_564_800_000;
        assert!(b.reserve("k", Some(100), None, 60, now).is_ok());
        let e = b.reserve("k", Some(100), None, 60, now).unwrap_err();
        assert_eq!((e.period, e.committed), ("daily", 60));
        b.settle("k", 60, 10, now);
        assert!(b.reserve("k", Some(100), None, 60, now).is_ok());
        assert_eq!(b.spent_by("k", now), (10, 10));
        // The next day starts from zero, the month does not.
        b.settle("k", 60, 0, now);
        let tomorrow = now + 86_400_000;
        assert!(b.reserve("k", Some(100), Some(95), 90, tomorrow).is_err());
        assert!(b.reserve("k", Some(100), Some(95), 85, tomorrow).is_ok());
    }
}
