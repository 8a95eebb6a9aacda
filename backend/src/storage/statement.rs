//! Statements built piece by piece, for both databases.
//!
//! sqlx's `QueryBuilder<Any>` writes each bound value's placeholder as `?`
//! (the `Arguments` trait's default; the `Any` driver has no per-backend
//! one), which PostgreSQL refuses. [`Statement`] is the part of it this
//! crate uses, writing `$1`, `$2`, … instead, which SQLite and PostgreSQL
//! both take; every statement not built piece by piece spells `$N` itself.

use std::fmt::Display;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryScalar};
use sqlx::{Any, Arguments, Encode, Type};

/// A statement being built: its text and the values bound so far.
pub(super) struct Statement<'args> {
    sql: String,
    arguments: AnyArguments<'args>,
    bound: usize,
}

impl<'args> Statement<'args> {
    pub(super) fn new(sql: impl Into<String>) -> Statement<'args> {
        Statement {
            sql: sql.into(),
            arguments: AnyArguments::default(),
            bound: 0,
        }
    }

    /// Appends SQL text (never a value from outside: bind those).
    pub(super) fn push(&mut self, sql: impl Display) -> &mut Statement<'args> {
        use std::fmt::Write;
        // Writing to a `String` cannot fail.
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends a placeholder and binds `value` to it.
    ///
    /// # Panics
    /// When `value` cannot be encoded, as `QueryBuilder::push_bind` does:
    /// every type bound here (integers, text, bytes) always can.
    pub(super) fn push_bind<T>(&mut self, value: T) -> &mut Statement<'args>
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        self.arguments
            .add(value)
            .expect("integers, text and bytes always encode");
        self.bound += 1;
        let n = self.bound;
        self.push(format_args!("${n}"))
    }

    /// A list whose items are written with `separator` between them.
    pub(super) fn separated(&mut self, separator: &'static str) -> Separated<'_, 'args> {
        Separated {
            statement: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (…), (…)`: one parenthesised tuple per item, its values
    /// pushed by `push_tuple`.
    pub(super) fn push_values<I, F>(&mut self, items: I, mut push_tuple: F) -> &mut Statement<'args>
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'args>, I::Item),
    {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push("(");
            push_tuple(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    /// The statement, to run once.
    pub(super) fn query(&mut self) -> Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.sql, std::mem::take(&mut self.arguments))
    }

    /// The statement reading one column, to run once.
    pub(super) fn scalar<O>(&mut self) -> QueryScalar<'_, Any, O, AnyArguments<'_>>
    where
        (O,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        sqlx::query_scalar_with(&self.sql, std::mem::take(&mut self.arguments))
    }
}

/// Items of a list being written into a [`Statement`].
pub(super) struct Separated<'s, 'args> {
    statement: &'s mut Statement<'args>,
    separator: &'static str,
    first: bool,
}

impl<'args> Separated<'_, 'args> {
    /// Binds `value` as the list's next item.
    pub(super) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        self.next();
        self.statement.push_bind(value);
        self
    }

    fn next(&mut self) {
        if !self.first {
            self.statement.push(self.separator);
        }
        self.first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_order() {
        let mut q = Statement::new("INSERT INTO t (a, b) ");
        q.push_values([(1_i64, "x"), (2, "y")], |mut row, (a, b)| {
            row.push_bind(a).push_bind(b);
        });
        q.push(" WHERE c IN (");
        let mut list = q.separated(", ");
        list.push_bind(3_i64).push_bind(5_i64);
        q.push(")");
        assert_eq!(
            q.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) WHERE c IN ($5, $6)"
        );
        assert_eq!(q.arguments.len(), 6);
    }
}
