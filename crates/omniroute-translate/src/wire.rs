//! Serde helpers shared by the wire types of several formats.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A field that is either a plain string or an array (`"content": "hi"` or `"content": [...]`).
///
/// Written by hand rather than as `#[serde(untagged)]`, which would buffer the whole value and
/// parse it twice: this visitor parses it once, straight into the right variant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OneOrMany<T> {
    Text(String),
    Parts(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(OneOrMany::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(OneOrMany::Parts(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OneOrMany::Text(t) => s.serialize_str(t),
            OneOrMany::Parts(p) => p.serialize(s),
        }
    }
}

/// `{}` as a raw JSON value.
pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable_raw())
}

/// `{"type":"object","properties":{}}`, the schema of a tool without parameters.
pub(crate) fn empty_schema_raw() -> Box<RawValue> {
    RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
        .unwrap_or_else(|_| unreachable_raw())
}

/// Both literals above are valid JSON; this keeps the code panic-free all the same.
fn unreachable_raw() -> Box<RawValue> {
    serde_json::value::to_raw_value(&Value::Null).unwrap_or_default()
}

/// A `Value` as raw JSON text.
pub(crate) fn to_raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).unwrap_or_else(|_| unreachable_raw())
}

/// Tool arguments arrive as JSON text and some formats want a JSON object. Valid objects pass
/// through as text; anything else (a model's malformed JSON) is wrapped rather than lost.
pub(crate) fn args_object(args: &str) -> Box<RawValue> {
    let t = args.trim();
    if t.is_empty() {
        return empty_object();
    }
    if t.starts_with('{')
        && let Ok(raw) = serde_json::from_str::<&RawValue>(t)
    {
        return raw.to_owned();
    }
    match serde_json::from_str::<Value>(t) {
        Ok(other) => to_raw(&serde_json::json!({ "value": other })),
        Err(_) => to_raw(&serde_json::json!({ "raw_arguments": args })),
    }
}

/// Parses a top-level JSON object into its typed struct plus the fields the struct does not
/// know, in the object's order, in a single pass.
///
/// `#[serde(flatten)]` would do the same but buffers the whole body into an intermediate tree
/// and parses it twice. Here the struct's own derived visitor reads straight from the parser,
/// through a map adapter that sets unknown fields aside as `Value`s.
pub(crate) fn parse_with_extra<'a, T: Deserialize<'a>>(
    body: &'a [u8],
) -> serde_json::Result<(T, Map<String, Value>)> {
    struct Capture<'x, T> {
        known: &'static [&'static str],
        extra: &'x mut Map<String, Value>,
        _t: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Capture<'_, T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(Filter {
                inner: map,
                known: self.known,
                extra: self.extra,
            }))
        }
    }
    struct Filter<'x, A> {
        inner: A,
        known: &'static [&'static str],
        extra: &'x mut Map<String, Value>,
    }
    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filter<'_, A> {
        type Error = A::Error;
        fn next_key_seed<K: de::DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            while let Some(key) = self.inner.next_key::<Cow<'de, str>>()? {
                if self.known.contains(&key.as_ref()) {
                    return seed
                        .deserialize(de::value::StrDeserializer::<A::Error>::new(&key))
                        .map(Some);
                }
                let v = self.inner.next_value::<Value>()?;
                self.extra.insert(key.into_owned(), v);
            }
            Ok(None)
        }
        fn next_value_seed<V: de::DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.inner.next_value_seed(seed)
        }
    }
    let mut extra = Map::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let typed = de.deserialize_map(Capture::<T> {
        known: field_names::<T>(),
        extra: &mut extra,
        _t: PhantomData,
    })?;
    de.end()?;
    Ok((typed, extra))
}

/// JSON kept as text. It serializes without re-encoding; it deserializes from any value, also
/// inside internally tagged enums and flattened structs, where `RawValue` alone cannot.
#[derive(Debug, Clone)]
pub(crate) struct AnyJson(pub(crate) Box<RawValue>);

impl AnyJson {
    pub(crate) fn get(&self) -> &str {
        self.0.get()
    }
}

impl Default for AnyJson {
    fn default() -> Self {
        AnyJson(empty_object())
    }
}

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| AnyJson(to_raw(&v)))
    }
}

impl Serialize for AnyJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The field names a derived `Deserialize` struct accepts, read from what it passes to
/// `deserialize_struct` (so the list can never drift from the struct).
pub(crate) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
