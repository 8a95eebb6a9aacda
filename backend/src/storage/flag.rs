//! Yes/no values read back from either database.

use sqlx::any::{AnyTypeInfo, AnyTypeInfoKind, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type, ValueRef};

/// A flag column or a condition read as a column: PostgreSQL answers a
/// `BOOLEAN`, SQLite an integer, 0 or 1 (its flag columns are `INTEGER`,
/// since sqlx's `Any` driver cannot read a column SQLite declares
/// `BOOLEAN`). Flags are bound as plain `bool`s, which both take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Flag(pub(super) bool);

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind() == AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Flag, BoxDynError> {
        if value.type_info().kind() == AnyTypeInfoKind::Bool {
            Ok(Flag(<bool as Decode<Any>>::decode(value)?))
        } else {
            Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn sqlite_integers_read_as_flags() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect("sqlite::memory:").await.unwrap();
        let row = sqlx::query("SELECT 1 AS yes, 0 AS no, 1 = 2 AS cond")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<Flag, _>("yes").unwrap(), Flag(true));
        assert_eq!(row.try_get::<Flag, _>("no").unwrap(), Flag(false));
        assert_eq!(row.try_get::<Flag, _>("cond").unwrap(), Flag(false));
    }
}
