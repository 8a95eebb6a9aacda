//! The dashboard (`GET /manager/api/dashboard`): the team's calls of a
//! period — São Paulo days, the last seven by default, at most
//! [`MAX_DAYS`] — or one salesperson's: calls, answer rate, talk time, the
//! ranking of salespeople, the outcomes day by day and the answer rate by
//! weekday and hour ("melhor horário para ligar"). The database counts
//! ([`crate::storage::DashboardFigures`]); this module fills the gaps (days
//! and hours without calls), puts it in Portuguese, and draws each chart
//! as an SVG image ([`super::charts`]) from the same view the page shows
//! as tables.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::charts;
use super::export::inert;
use super::session::{Manager, PageManager};
use crate::api::{ApiError, AppState};
use crate::domain::sao_paulo::SAO_PAULO;
use crate::domain::{Outcome, User};
use crate::storage::{DashboardFigures, DashboardFilter};

/// The longest period, in days.
pub const MAX_DAYS: i64 = 366;

/// Weekdays as the heat map's rows say them, Sunday first.
pub const WEEKDAYS: [&str; 7] = ["dom", "seg", "ter", "qua", "qui", "sex", "sáb"];

#[derive(Debug, Default, Deserialize)]
pub struct Period {
    /// First day, `2026-11-21` (São Paulo).
    pub from: Option<String>,
    /// Last day, included.
    pub to: Option<String>,
    /// One salesperson's user id.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub calls: u64,
    pub answered: u64,
    /// Answered calls over calls, 0–1 (`None` without calls).
    pub answer_rate: Option<f64>,
    pub talk_seconds: u64,
    /// Talk time per answered call.
    pub average_talk_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SalespersonRow {
    pub user_id: String,
    pub name: String,
    pub calls: u64,
    pub answered: u64,
    pub answer_rate: Option<f64>,
    pub talk_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeCount {
    pub outcome: Outcome,
    pub calls: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    /// `2026-11-30`.
    pub date: String,
    /// `30/11`.
    pub label: String,
    pub calls: u64,
    /// Every outcome, in [`super::view::OUTCOMES`]' order.
    pub outcomes: Vec<OutcomeCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourCell {
    pub calls: u64,
    pub answered: u64,
    pub answer_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeekdayRow {
    /// `dom`, `seg`...
    pub weekday: &'static str,
    /// 24 hours, from 0.
    pub hours: Vec<HourCell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeName {
    pub value: Outcome,
    pub label: &'static str,
}

/// The dashboard as the page shows it (and each chart draws it).
#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    pub from: String,
    pub to: String,
    /// The salesperson chosen, if one.
    pub user: Option<String>,
    pub totals: Totals,
    /// Most calls first.
    pub ranking: Vec<SalespersonRow>,
    pub days: Vec<DayRow>,
    /// Sunday first.
    pub hours: Vec<WeekdayRow>,
    pub outcomes: Vec<OutcomeName>,
    /// The outcomes the salespeople reported after their calls, most first.
    pub reported: Vec<ReportedOutcome>,
}

/// How many calls the salespeople reported with one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedOutcome {
    pub label: String,
    pub calls: u64,
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The period `query` asks for, as days (first, last) and the filter.
fn period(user: &User, query: &Period) -> Result<(Date, Date, DashboardFilter), ApiError> {
    let today = jiff::Timestamp::now().to_zoned(SAO_PAULO.clone()).date();
    let parse = |value: &Option<String>, what: &str| -> Result<Option<Date>, ApiError> {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::malformed(format!("{what} deve ser uma data como 2026-11-21"))
            }),
        }
    };
    let last = parse(&query.to, "a data final")?.unwrap_or(today);
    let first = match parse(&query.from, "a data inicial")? {
        Some(first) => first,
        None => last
            .checked_sub(jiff::Span::new().days(6))
            .map_err(|_| ApiError::malformed("período inválido"))?,
    };
    let days = first
        .until(last)
        .map_err(|_| ApiError::malformed("período inválido"))?
        .get_days();
    if days < 0 {
        return Err(ApiError::malformed(
            "A data inicial deve vir antes da data final.",
        ));
    }
    if i64::from(days) >= MAX_DAYS {
        return Err(ApiError::malformed(format!(
            "O período pode ter no máximo {MAX_DAYS} dias."
        )));
    }
    let from = super::filters::day_start(&first.to_string(), 0, "a data inicial")?;
    let to = super::filters::day_start(&last.to_string(), 1, "a data final")?;
    Ok((
        first,
        last,
        DashboardFilter {
            tenant: user.tenant.slug.as_str().to_owned(),
            user_id: query
                .user
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            from,
            to,
        },
    ))
}

/// The view of `figures` for the days `first`–`last`.
pub fn view(
    first: Date,
    last: Date,
    user: Option<String>,
    figures: &DashboardFigures,
) -> DashboardView {
    let calls: u64 = figures.salespeople.iter().map(|s| s.calls).sum();
    let answered: u64 = figures.salespeople.iter().map(|s| s.answered).sum();
    let talk_seconds: u64 = figures.salespeople.iter().map(|s| s.talk_seconds).sum();
    let epoch = Date::constant(1970, 1, 1);
    let mut days = Vec::new();
    let mut date = first;
    while date <= last {
        let number = epoch.until(date).map(|s| s.get_days()).unwrap_or_default();
        let outcomes: Vec<OutcomeCount> = super::view::OUTCOMES
            .iter()
            .map(|outcome| OutcomeCount {
                outcome: *outcome,
                calls: figures
                    .days
                    .iter()
                    .filter(|d| d.day == i64::from(number) && d.outcome == *outcome)
                    .map(|d| d.calls)
                    .sum(),
            })
            .collect();
        days.push(DayRow {
            date: date.to_string(),
            label: date.strftime("%d/%m").to_string(),
            calls: outcomes.iter().map(|o| o.calls).sum(),
            outcomes,
        });
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    let hours = WEEKDAYS
        .iter()
        .enumerate()
        .map(|(weekday, name)| WeekdayRow {
            weekday: name,
            hours: (0..24u8)
                .map(|hour| {
                    let cell = figures
                        .hours
                        .iter()
                        .find(|h| usize::from(h.weekday) == weekday && h.hour == hour);
                    let (calls, answered) = cell.map_or((0, 0), |h| (h.calls, h.answered));
                    HourCell {
                        calls,
                        answered,
                        answer_rate: rate(answered, calls),
                    }
                })
                .collect(),
        })
        .collect();
    DashboardView {
        from: first.to_string(),
        to: last.to_string(),
        user,
        totals: Totals {
            calls,
            answered,
            answer_rate: rate(answered, calls),
            talk_seconds,
            average_talk_seconds: (answered > 0).then(|| talk_seconds / answered),
        },
        ranking: figures
            .salespeople
            .iter()
            .map(|s| SalespersonRow {
                user_id: s.user_id.clone(),
                name: s.name.clone(),
                calls: s.calls,
                answered: s.answered,
                answer_rate: rate(s.answered, s.calls),
                talk_seconds: s.talk_seconds,
            })
            .collect(),
        days,
        hours,
        outcomes: super::view::OUTCOMES
            .iter()
            .map(|o| OutcomeName {
                value: *o,
                label: o.for_manager(),
            })
            .collect(),
        reported: Vec::new(),
    }
}

async fn load(state: &AppState, user: &User, query: &Period) -> Result<DashboardView, ApiError> {
    let (first, last, filter) = period(user, query)?;
    let figures = state.store.dashboard(&filter).await?;
    let reported = state.store.dashboard_dispositions(&filter).await?;
    let mut view = view(first, last, filter.user_id, &figures);
    view.reported = reported
        .into_iter()
        .map(|(label, calls)| ReportedOutcome { label, calls })
        .collect();
    Ok(view)
}

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::malformed(format!(
        "filtros aceitos: from, to, user ({})",
        e.body_text()
    ))
}

/// `GET /manager/api/dashboard`.
pub async fn dashboard(
    State(state): State<AppState>,
    Manager(user): Manager,
    query: Result<Query<Period>, QueryRejection>,
) -> Result<Json<DashboardView>, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    Ok(Json(load(&state, &user, &query).await?))
}

/// `GET /manager/api/dashboard/{chart}`: `ranking.svg`, `days.svg` or
/// `hours.svg`, each drawn after the one read it needs.
pub async fn chart(
    State(state): State<AppState>,
    Manager(user): Manager,
    Path(chart): Path<String>,
    query: Result<Query<Period>, QueryRejection>,
) -> Result<Response, ApiError> {
    if !["ranking.svg", "days.svg", "hours.svg"].contains(&chart.as_str()) {
        return Err(ApiError::not_found());
    }
    let Query(query) = query.map_err(bad_query)?;
    let (first, last, filter) = period(&user, &query)?;
    let store = &state.store;
    let mut figures = DashboardFigures::default();
    let drawn = match chart.as_str() {
        "ranking.svg" => {
            figures.salespeople = store.dashboard_salespeople(&filter).await?;
            charts::ranking(&view(first, last, filter.user_id, &figures))
        }
        "days.svg" => {
            figures.days = store.dashboard_days(&filter).await?;
            charts::days(&view(first, last, filter.user_id, &figures))
        }
        _ => {
            figures.hours = store.dashboard_hours(&filter).await?;
            charts::hours(&view(first, last, filter.user_id, &figures))
        }
    };
    let mut response = drawn.into_response();
    // Drawn with presentation attributes only (no style, no script): the
    // page's Content-Security-Policy holds for it opened on its own too.
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    Ok(response)
}

/// `GET /manager/dashboard.csv`: the dashboard's tables in one file for a
/// spreadsheet (`;`, a byte order mark, formulas made inert): the
/// salespeople, the days by outcome, and the weekdays by hour.
pub async fn dashboard_csv(
    State(state): State<AppState>,
    PageManager(user): PageManager,
    query: Result<Query<Period>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    let view = load(&state, &user, &query).await?;
    let body = write_csv(&view).map_err(|e| {
        tracing::error!(error = %e, "cannot write the dashboard's CSV");
        ApiError::internal()
    })?;
    let file = format!(
        "attachment; filename=\"painel-{}-{}-a-{}.csv\"",
        user.tenant.slug.as_str(),
        view.from,
        view.to
    );
    let disposition = HeaderValue::from_str(&file)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"painel.csv\""));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

fn write_csv(view: &DashboardView) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::WriterBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_writer("\u{feff}".as_bytes().to_vec());
    let rate = |r: Option<f64>| r.map(|r| format!("{:.1}", r * 100.0)).unwrap_or_default();
    let mut write =
        |cells: Vec<String>| csv.write_record(cells.iter().map(|c| inert(c).into_owned()));
    write(vec![format!("Período: {} a {}", view.from, view.to)])?;
    write(vec![])?;
    write(
        [
            "Vendedor",
            "Ligações",
            "Atendidas",
            "Taxa de atendimento (%)",
            "Conversa (s)",
        ]
        .map(str::to_owned)
        .to_vec(),
    )?;
    for r in &view.ranking {
        write(vec![
            r.name.clone(),
            r.calls.to_string(),
            r.answered.to_string(),
            rate(r.answer_rate),
            r.talk_seconds.to_string(),
        ])?;
    }
    write(vec![])?;
    let mut header = vec!["Dia".to_owned(), "Ligações".to_owned()];
    header.extend(view.outcomes.iter().map(|o| o.label.to_owned()));
    write(header)?;
    for day in &view.days {
        let mut cells = vec![day.date.clone(), day.calls.to_string()];
        cells.extend(day.outcomes.iter().map(|o| o.calls.to_string()));
        write(cells)?;
    }
    write(vec![])?;
    write(
        [
            "Resultado da conversa (informado pelo vendedor)",
            "Ligações",
        ]
        .map(str::to_owned)
        .to_vec(),
    )?;
    for r in &view.reported {
        write(vec![r.label.clone(), r.calls.to_string()])?;
    }
    write(vec![])?;
    write(
        [
            "Dia da semana",
            "Hora",
            "Ligações",
            "Atendidas",
            "Taxa de atendimento (%)",
        ]
        .map(str::to_owned)
        .to_vec(),
    )?;
    for weekday in &view.hours {
        for (hour, cell) in weekday.hours.iter().enumerate() {
            write(vec![
                weekday.weekday.to_owned(),
                hour.to_string(),
                cell.calls.to_string(),
                cell.answered.to_string(),
                rate(cell.answer_rate),
            ])?;
        }
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}

/// A time in words for the tables: `1 h 05 min`, `3 min 20 s`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min"),
    }
}
