//! Reading a Server-Sent Events response (`/v1/events`, the live board)
//! in a test or a bench.

use serde_json::Value;

/// Reads `response` in a task of its own until it ends, calling `each`
/// with every event's data read as JSON (events whose data is not JSON,
/// such as keep-alive comments, are skipped).
pub fn each_data(mut response: reqwest::Response, mut each: impl FnMut(Value) + Send + 'static) {
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if let Ok(value) = serde_json::from_str::<Value>(&data.join("\n")) {
                    each(value);
                }
            }
        }
    });
}
