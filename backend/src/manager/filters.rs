//! The page's filters, as the query string carries them (`user`, `from`
//! and `to` as São Paulo dates, `outcome`, `crm`; an empty value means
//! "any"), turned into a [`CallFilter`] of the manager's tenant.

use jiff::civil::Date;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::api::ApiError;
use crate::domain::sao_paulo::SAO_PAULO;
use crate::domain::{CallId, CrmState, Outcome};
use crate::storage::CallFilter;

/// Which calls: shared by the list and the CSV export.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// A salesperson's user id.
    pub user: Option<String>,
    /// First day, `2026-11-21` (São Paulo).
    pub from: Option<String>,
    /// Last day, included.
    pub to: Option<String>,
    pub outcome: Option<String>,
    pub crm: Option<String>,
}

/// Where a page of the list starts, and its size.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

impl Filters {
    /// The tenant's calls these filters select, `limit` at a time.
    pub fn to_filter(&self, tenant: &str, limit: u32) -> Result<CallFilter, ApiError> {
        let outcome = given(&self.outcome)
            .map(|o| {
                o.parse::<Outcome>()
                    .map_err(|_| ApiError::malformed("resultado desconhecido"))
            })
            .transpose()?;
        let crm = given(&self.crm)
            .map(|c| {
                c.parse::<CrmState>()
                    .map_err(|_| ApiError::malformed("situação do CRM desconhecida"))
            })
            .transpose()?;
        let from = given(&self.from)
            .map(|d| day_start(d, 0, "a data inicial"))
            .transpose()?;
        // The last day is included: up to the start of the next one.
        let to = given(&self.to)
            .map(|d| day_start(d, 1, "a data final"))
            .transpose()?;
        Ok(CallFilter {
            tenant: tenant.to_owned(),
            user_id: given(&self.user).map(str::to_owned),
            from,
            to,
            outcome,
            crm,
            before: None,
            limit,
        })
    }
}

impl Paging {
    pub fn apply(&self, filter: &mut CallFilter) -> Result<(), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::malformed("limit deve estar entre 1 e 200"));
        }
        filter.limit = limit;
        filter.before = given(&self.cursor)
            .map(|c| {
                c.parse::<CallId>()
                    .map_err(|_| ApiError::malformed("cursor inválido"))
            })
            .transpose()?;
        Ok(())
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The start of `day` plus `days_after` days, in São Paulo.
pub(super) fn day_start(
    day: &str,
    days_after: i64,
    what: &str,
) -> Result<OffsetDateTime, ApiError> {
    let invalid = || ApiError::malformed(format!("{what} deve ser uma data como 2026-11-21"));
    let date: Date = day.parse().map_err(|_| invalid())?;
    let date = date
        .checked_add(jiff::Span::new().days(days_after))
        .map_err(|_| invalid())?;
    let start = date.to_zoned(SAO_PAULO.clone()).map_err(|_| invalid())?;
    OffsetDateTime::from_unix_timestamp_nanos(start.timestamp().as_nanosecond())
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(from: &str, to: &str) -> Filters {
        Filters {
            from: Some(from.into()),
            to: Some(to.into()),
            ..Filters::default()
        }
    }

    #[test]
    fn dates_are_whole_days_in_sao_paulo() {
        let f = filters("2026-11-21", "2026-11-21")
            .to_filter("acme", 10)
            .unwrap();
        // 00:00 in São Paulo is 03:00 UTC; the last day is included.
        assert_eq!(f.from.unwrap().unix_timestamp(), 1_795_230_000);
        assert_eq!(f.to.unwrap().unix_timestamp(), 1_795_230_000 + 86_400);
        assert_eq!(f.tenant, "acme");
    }

    #[test]
    fn empty_values_mean_any_and_bad_ones_are_refused() {
        let f = Filters {
            user: Some(String::new()),
            outcome: Some(" ".into()),
            crm: Some("failed".into()),
            ..Filters::default()
        }
        .to_filter("acme", 10)
        .unwrap();
        assert_eq!(
            (f.user_id, f.outcome, f.crm),
            (None, None, Some(CrmState::Failed))
        );
        for bad in [
            Filters {
                outcome: Some("exploded".into()),
                ..Filters::default()
            },
            Filters {
                crm: Some("sent".into()),
                ..Filters::default()
            },
            filters("21/11/2026", ""),
            filters("", "2026-02-30"),
        ] {
            assert!(bad.to_filter("acme", 10).is_err(), "{bad:?}");
        }
        let mut f = CallFilter::default();
        for (cursor, limit) in [(Some("zzz"), None), (None, Some(0)), (None, Some(201))] {
            let paging = Paging {
                cursor: cursor.map(Into::into),
                limit,
            };
            assert!(paging.apply(&mut f).is_err());
        }
    }
}
