//! Broker errors and their one mapping to Kafka error codes.

use crate::log::batch::BatchError;
use crate::log::LogError;
use kafka_protocol::error::ResponseError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("unknown topic id")]
    UnknownTopicId,
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error("{0}")]
    CorruptMessage(String),
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("{0}")]
    InvalidRecord(String),
    #[error("acks must be -1, 0 or 1")]
    InvalidRequiredAcks,
    #[error("{0}")]
    UnsupportedForMessageFormat(String),
    #[error("{0}")]
    InvalidTransactionTimeout(String),
    #[error("{0}")]
    NotEnoughReplicas(String),
    #[error("{0}")]
    UnsupportedCompressionType(String),
    #[error(transparent)]
    Producer(#[from] super::producer_state::ProducerError),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("this broker is not the leader of the partition")]
    NotLeaderOrFollower,
    #[error("{0}")]
    NotEnoughReplicasAfterAppend(String),
    #[error("{0}")]
    RequestTimedOut(String),
    #[error("{0}")]
    NotController(String),
    /// Retriable: what the answer needs is not loaded (or allocated) yet.
    #[error("{0}")]
    CoordinatorLoadInProgress(String),
}

impl BrokerError {
    /// The Kafka error for this failure: the only place codes are chosen.
    pub fn response_error(&self) -> ResponseError {
        use BrokerError::*;
        match self {
            UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            UnknownTopicId => ResponseError::UnknownTopicId,
            TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            InvalidTopic(_) => ResponseError::InvalidTopicException,
            InvalidPartitions(_) => ResponseError::InvalidPartitions,
            InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            InvalidConfig(_) => ResponseError::InvalidConfig,
            InvalidRequest(_) => ResponseError::InvalidRequest,
            OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            CorruptMessage(_) => ResponseError::CorruptMessage,
            MessageTooLarge(_) => ResponseError::MessageTooLarge,
            InvalidRecord(_) => ResponseError::InvalidRecord,
            InvalidRequiredAcks => ResponseError::InvalidRequiredAcks,
            UnsupportedForMessageFormat(_) => ResponseError::UnsupportedForMessageFormat,
            InvalidTransactionTimeout(_) => ResponseError::InvalidTransactionTimeout,
            NotEnoughReplicas(_) => ResponseError::NotEnoughReplicas,
            UnsupportedCompressionType(_) => ResponseError::UnsupportedCompressionType,
            Producer(p) => match p {
                super::producer_state::ProducerError::OutOfOrderSequence { .. } => {
                    ResponseError::OutOfOrderSequenceNumber
                }
                super::producer_state::ProducerError::InvalidProducerEpoch { .. } => {
                    ResponseError::InvalidProducerEpoch
                }
                super::producer_state::ProducerError::UnknownProducerId(_) => ResponseError::UnknownProducerId,
            },
            Storage(_) => ResponseError::KafkaStorageError,
            ResourceNotFound(_) => ResponseError::ResourceNotFound,
            NotLeaderOrFollower => ResponseError::NotLeaderOrFollower,
            NotEnoughReplicasAfterAppend(_) => ResponseError::NotEnoughReplicasAfterAppend,
            RequestTimedOut(_) => ResponseError::RequestTimedOut,
            NotController(_) => ResponseError::NotController,
            CoordinatorLoadInProgress(_) => ResponseError::CoordinatorLoadInProgress,
        }
    }

    pub fn code(&self) -> i16 {
        self.response_error().code()
    }

    /// The message sent to clients beside the code (where the API has a field for it).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// The code for success, so that handlers never write a numeric literal.
pub const NONE: i16 = 0;

/// Code of an error value or success.
pub fn code_of<T>(r: &Result<T, BrokerError>) -> i16 {
    match r {
        Ok(_) => NONE,
        Err(e) => e.code(),
    }
}

impl From<LogError> for BrokerError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::OffsetOutOfRange { offset, log_start, log_end } => {
                BrokerError::OffsetOutOfRange { offset, log_start, log_end }
            }
            LogError::Batch(b) => b.into(),
            LogError::Io(io) => BrokerError::Storage(io.to_string()),
        }
    }
}

impl From<BatchError> for BrokerError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::TooLarge { .. } => BrokerError::MessageTooLarge(e.to_string()),
            BatchError::Magic(_) => BrokerError::UnsupportedForMessageFormat(e.to_string()),
            BatchError::Invalid(_) => BrokerError::InvalidRecord(e.to_string()),
            BatchError::Truncated | BatchError::Crc { .. } => BrokerError::CorruptMessage(e.to_string()),
        }
    }
}
