//! Test support: message structs derived (`prost` derive, a dev-dependency) from the
//! official protos, to decode what the remote-write encoders write. Message structs exist
//! only here, in tests; the encoders write the wire format by hand.

/// Remote-Write 1.0: `prompb/remote.proto` and `prompb/types.proto`.
pub(crate) mod v1 {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub(crate) timeseries: Vec<TimeSeries>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) metadata: Vec<MetricMetadata>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) exemplars: Vec<Exemplar>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) histograms: Vec<Histogram>,
    }

    #[derive(Clone, PartialEq, Eq, Message)]
    pub(crate) struct Label {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) value: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<Label>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp: i64,
    }

    #[derive(Clone, PartialEq, Eq, Message)]
    pub(crate) struct MetricMetadata {
        #[prost(int32, tag = "1")]
        pub(crate) r#type: i32,
        #[prost(string, tag = "2")]
        pub(crate) metric_family_name: String,
        #[prost(string, tag = "4")]
        pub(crate) help: String,
        #[prost(string, tag = "5")]
        pub(crate) unit: String,
    }

    /// `prometheus.Histogram` (the same fields in 2.0); the oneofs as optional fields, so
    /// that presence is visible.
    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub(crate) count_int: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub(crate) count_float: Option<f64>,
        #[prost(double, tag = "3")]
        pub(crate) sum: f64,
        #[prost(sint32, tag = "4")]
        pub(crate) schema: i32,
        #[prost(double, tag = "5")]
        pub(crate) zero_threshold: f64,
        #[prost(uint64, optional, tag = "6")]
        pub(crate) zero_count_int: Option<u64>,
        #[prost(double, optional, tag = "7")]
        pub(crate) zero_count_float: Option<f64>,
        #[prost(message, repeated, tag = "8")]
        pub(crate) negative_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "9")]
        pub(crate) negative_deltas: Vec<i64>,
        #[prost(double, repeated, tag = "10")]
        pub(crate) negative_counts: Vec<f64>,
        #[prost(message, repeated, tag = "11")]
        pub(crate) positive_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "12")]
        pub(crate) positive_deltas: Vec<i64>,
        #[prost(double, repeated, tag = "13")]
        pub(crate) positive_counts: Vec<f64>,
        #[prost(int32, tag = "14")]
        pub(crate) reset_hint: i32,
        #[prost(int64, tag = "15")]
        pub(crate) timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub(crate) offset: i32,
        #[prost(uint32, tag = "2")]
        pub(crate) length: u32,
    }
}

/// Remote-Write 2.0: `prompb/io/prometheus/write/v2/types.proto`.
pub(crate) mod v2 {
    use prost::Message;

    pub(crate) use super::v1::Histogram;

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Request {
        #[prost(string, repeated, tag = "4")]
        pub(crate) symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub(crate) timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        pub(crate) labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) histograms: Vec<Histogram>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) exemplars: Vec<Exemplar>,
        #[prost(message, optional, tag = "5")]
        pub(crate) metadata: Option<Metadata>,
        #[prost(int64, tag = "6")]
        pub(crate) created_timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Exemplar {
        #[prost(uint32, repeated, tag = "1")]
        pub(crate) labels_refs: Vec<u32>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    pub(crate) struct Metadata {
        #[prost(int32, tag = "1")]
        pub(crate) r#type: i32,
        #[prost(uint32, tag = "3")]
        pub(crate) help_ref: u32,
        #[prost(uint32, tag = "4")]
        pub(crate) unit_ref: u32,
    }
}
