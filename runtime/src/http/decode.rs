//! How a page's records are read from its body.

use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use super::Response;
use super::message::quote;
use crate::Error;

/// Where the records are in a body.
#[derive(Clone, Debug)]
pub enum Records {
    /// A JSON array at a JSON pointer (`""`: the body is the array).
    Json {
        /// The pointer, such as `/tickets`.
        pointer: String,
    },
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header row.
    Csv {
        /// The field delimiter.
        delimiter: u8,
    },
}

impl Records {
    /// The JSON array at `pointer` (`""`: the body is the array).
    #[must_use]
    pub fn json(pointer: &str) -> Self {
        Records::Json {
            pointer: pointer.to_owned(),
        }
    }

    /// One JSON object per line.
    #[must_use]
    pub fn json_lines() -> Self {
        Records::JsonLines
    }

    /// CSV with a header row, comma-delimited.
    #[must_use]
    pub fn csv() -> Self {
        Records::Csv { delimiter: b',' }
    }

    /// The records of `response`.
    ///
    /// # Errors
    ///
    /// A system error naming the URL when the body does not hold records of type `T`.
    pub fn decode<T: DeserializeOwned>(&self, response: &Response) -> Result<Vec<T>, Error> {
        let fail = |error: &dyn std::fmt::Display| {
            Error::system(super::classify::mask(&format!(
                "the answer to {} is not a list of records ({error}): {}",
                response.url(),
                quote(&String::from_utf8_lossy(response.body()))
            )))
        };
        match self {
            Records::Json { pointer } if pointer.is_empty() => {
                serde_json::from_slice(response.body()).map_err(|error| fail(&error))
            }
            Records::Json { pointer } => {
                let value: serde_json::Value =
                    serde_json::from_slice(response.body()).map_err(|error| fail(&error))?;
                let Some(array) = value.pointer(pointer) else {
                    return Err(fail(&format!("nothing at `{pointer}`")));
                };
                Vec::<T>::deserialize(array).map_err(|error| fail(&error))
            }
            Records::JsonLines => response
                .body()
                .split(|&byte| byte == b'\n')
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .map(|line| serde_json::from_slice(line).map_err(|error| fail(&error)))
                .collect(),
            Records::Csv { delimiter } => csv::ReaderBuilder::new()
                .delimiter(*delimiter)
                .from_reader(response.body())
                .deserialize()
                .map(|row| row.map_err(|error| fail(&error)))
                .collect(),
        }
    }
}
