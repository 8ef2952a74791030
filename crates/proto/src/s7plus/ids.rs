//! Well-known object and attribute ids of S7comm-plus (names after the
//! s7commwireshark plug-in's id table and thomas-v2/S7CommPlusDriver `Ids.cs`).

/// `NativeObjects.theCPUexecUnit_Rid`: the CPU execution unit object.
pub const CPU_EXEC_UNIT: u32 = 52;
/// `CPUexecUnit.OperatingStateREQ`: requested operating state (1 stop, 3 run).
pub const OPERATING_STATE_REQ: u32 = 2167;
/// `ObjectServerSessionContainer`.
pub const SERVER_SESSION_CONTAINER: u32 = 285;
/// `ObjectNullServerSession`: session id used before a session exists.
pub const NULL_SERVER_SESSION: u32 = 288;
/// `ServerSessionChallenge`.
pub const SERVER_SESSION_CHALLENGE: u32 = 303;
/// `ServerSessionResponse` (legacy legitimation).
pub const SERVER_SESSION_RESPONSE: u32 = 304;
/// `ServerSessionVersion`.
pub const SERVER_SESSION_VERSION: u32 = 306;
/// `ObjectQualifier`.
pub const OBJECT_QUALIFIER: u32 = 1256;
/// `Legitimate` (legitimation with the access-protection password).
pub const LEGITIMATE: u32 = 1846;
