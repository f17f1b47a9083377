//! Cron expressions: 5 fields (crontab), 6 with a leading seconds field, or
//! an `@daily`-style nickname, parsed once at validation.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron expression with the text it came from.
#[derive(Clone)]
pub struct Schedule {
    pub expr: String,
    pub cron: Cron,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schedule({:?})", self.expr)
    }
}

/// Parses `expr`, or says why it is not a cron expression.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let cron = parser
        .parse(expr)
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
    Ok(Schedule {
        expr: expr.trim().to_string(),
        cron,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_five_six_fields_and_nicknames() {
        for ok in [
            "0 3 * * *",
            "*/5 * * * * *",
            "@daily",
            "@hourly",
            "0 0 1 * MON",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_garbage_with_the_expression_named() {
        for bad in ["", "0 3 * *", "61 * * * *", "every day", "0 0 0 1 1 * 2030"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
