//! S7comm code points: error classes and codes, memory areas, transport sizes,
//! item return codes, syntax ids, block types, userdata groups and subfunctions,
//! PI service names.
//!
//! Every code point is an open newtype (`pub u8` / `pub u16`) with named
//! constants and a `name()` that returns `None` for values we do not know, so
//! unknown values reach the rules intact. Values follow Wireshark's
//! `packet-s7comm.c` (read for facts only); the descriptions are our own words.

/// Error class, first byte of the header error of an Ack / Ack_Data. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorClass(pub u8);

impl ErrorClass {
    /// No error.
    pub const NONE: ErrorClass = ErrorClass(0x00);
    /// Application relationship error.
    pub const APPLICATION_RELATIONSHIP: ErrorClass = ErrorClass(0x81);
    /// Object definition error.
    pub const OBJECT_DEFINITION: ErrorClass = ErrorClass(0x82);
    /// No resources available.
    pub const NO_RESOURCES: ErrorClass = ErrorClass(0x83);
    /// Error while processing the service.
    pub const SERVICE_PROCESSING: ErrorClass = ErrorClass(0x84);
    /// Error on supplies.
    pub const SUPPLIES: ErrorClass = ErrorClass(0x85);
    /// Access error.
    pub const ACCESS: ErrorClass = ErrorClass(0x87);

    /// Short name, `None` for undefined classes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "no error",
            0x81 => "application relationship error",
            0x82 => "object definition error",
            0x83 => "no resources available",
            0x84 => "service processing error",
            0x85 => "supplies error",
            0x87 => "access error",
            _ => return None,
        })
    }
}

/// 16-bit S7 error code: the header's class and code combined (`class << 8 | code`),
/// the error code of an 8-byte userdata parameter head, or the code carried by a
/// Download-ended / End-upload job. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// No error.
    pub const NONE: ErrorCode = ErrorCode(0x0000);
    /// Service not implemented on the module, or frame error.
    pub const NOT_IMPLEMENTED: ErrorCode = ErrorCode(0x8104);
    /// Object access: address out of range / area length error.
    pub const ADDRESS_ERROR: ErrorCode = ErrorCode(0x8701);
    /// Function not allowed in the current operating mode.
    pub const WRONG_MODE: ErrorCode = ErrorCode(0xD081);
    /// Function not allowed at the current protection level.
    pub const PROTECTION_LEVEL: ErrorCode = ErrorCode(0xD0A1);
    /// Operating mode already set.
    pub const MODE_ALREADY_SET: ErrorCode = ErrorCode(0xD0AD);
    /// Illegal SZL id.
    pub const ILLEGAL_SZL_ID: ErrorCode = ErrorCode(0xD041);
    /// Protection violation (function not allowed at this protection level).
    pub const PROTECTION_VIOLATION: ErrorCode = ErrorCode(0xD241);
    /// Wrong password.
    pub const WRONG_PASSWORD: ErrorCode = ErrorCode(0xD602);
    /// Connection already legitimised.
    pub const ALREADY_LEGITIMISED: ErrorCode = ErrorCode(0xD603);
    /// Connection already enabled.
    pub const ALREADY_ENABLED: ErrorCode = ErrorCode(0xD604);
    /// Legitimisation impossible: no password configured.
    pub const NO_PASSWORD: ErrorCode = ErrorCode(0xD605);

    /// The class part (high byte).
    pub const fn class(self) -> ErrorClass {
        ErrorClass((self.0 >> 8) as u8)
    }

    /// Whether this is a non-zero code.
    pub const fn is_error(self) -> bool {
        self.0 != 0
    }

    /// Short description of the most common codes, `None` for the rest.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0000 => "no error",
            0x0110 => "invalid block number",
            0x0111 => "invalid request length",
            0x0112 => "invalid parameter",
            0x0113 => "invalid block type",
            0x0114 => "block not found",
            0x0115 => "block already exists",
            0x0116 => "block is write protected",
            0x0117 => "block or OS update too large",
            0x0119 => "wrong password",
            0x011C => "protocol error",
            0x011D => "too many blocks",
            0x0140 => "not enough memory",
            0x0141 => "no resources for the job",
            0x8001 => "service impossible in the block's current state",
            0x8003 => "error while transferring the block",
            0x8100 => "service unknown to the module",
            0x8104 => "service not implemented or frame error",
            0x8204 => "inconsistent object type",
            0x8205 => "copied block exists but is not linked",
            0x8301 => "not enough memory on the module",
            0x8302 => "not enough processing resources",
            0x8304 => "no further parallel upload possible",
            0x8305 => "function not available",
            0x8306 => "not enough work memory",
            0x8307 => "not enough retentive work memory",
            0x8401 => "invalid service sequence",
            0x8402 => "object state forbids the service",
            0x8404 => "function cannot be performed",
            0x8405 => "remote block disabled",
            0x8500 => "wrong frames",
            0x8503 => "service aborted by the module",
            0x8701 => "object address error",
            0x8702 => "service not supported by the module",
            0x8703 => "object access refused",
            0x8704 => "object damaged",
            0xD001 => "illegal job number",
            0xD002 => "illegal job variant",
            0xD003 => "debug function not supported",
            0xD004 => "illegal job status",
            0xD005 => "illegal job termination",
            0xD033 => "wrong job length",
            0xD03F => "coding error in the parameter part",
            0xD041 => "illegal SZL id",
            0xD042 => "illegal variable address",
            0xD05F => "coding error in the data part",
            0xD061 => "no memory for the job",
            0xD062 => "job list full",
            0xD081 => "not allowed in the current mode",
            0xD082 => "cannot leave HOLD",
            0xD0A1 => "not allowed at the current protection level",
            0xD0A2 => "a memory-modifying function is running",
            0xD0A5 => "referenced job not found",
            0xD0AA => "time limit exceeded",
            0xD0AB => "invalid job parameters",
            0xD0AC => "invalid job data",
            0xD0AD => "operating mode already set",
            0xD0AE => "job belongs to another connection",
            0xD0C1 => "error while accessing variables",
            0xD0C2 => "changed to STOP/HOLD",
            0xD201 => "syntax error in block name",
            0xD202 => "syntax error in function parameters",
            0xD209 => "block not found on the module",
            0xD20E => "no further block available",
            0xD210 => "invalid block number",
            0xD216 => "invalid user program, reset the module",
            0xD217 => "protection level of the module properties not allowed",
            0xD219 => "wrong block length",
            0xD226 => "structural error in a block",
            0xD230 => "structural error in a block",
            0xD235 => "wrong block checksum",
            0xD236 => "block has no checksum",
            0xD240 => "coordination rules violated",
            0xD241 => "protection violation",
            0xD242 => "protection violation on F blocks",
            0xD2A1 => "another block function is active",
            0xD401 => "information function unavailable",
            0xD402 => "information function unavailable",
            0xD405 => "service not supported or syntax error",
            0xD406 => "information currently unavailable",
            0xD601 => "syntax error in function parameter",
            0xD602 => "wrong password",
            0xD603 => "connection already legitimised",
            0xD604 => "connection already enabled",
            0xD605 => "legitimisation impossible, no password set",
            0xD801 => "invalid variable address",
            0xD802 => "job does not exist",
            0xD803 => "illegal job status",
            0xD804 => "illegal cycle time",
            0xD805 => "no further cyclic read job possible",
            0xDC01 => "invalid date or time",
            0xEF01 => "protocol error in ID2",
            0xEF02 => "resource set in ID2 does not exist",
            _ => return None,
        })
    }
}

/// Memory area of an S7ANY address. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Area(pub u8);

impl Area {
    /// Data record (RDREC / firmware update on CPs).
    pub const DATA_RECORD: Area = Area(0x01);
    /// S7-200 system info.
    pub const S200_SYSINFO: Area = Area(0x03);
    /// S7-200 system flags.
    pub const S200_SYSFLAGS: Area = Area(0x05);
    /// S7-200 analog inputs.
    pub const S200_ANALOG_IN: Area = Area(0x06);
    /// S7-200 analog outputs.
    pub const S200_ANALOG_OUT: Area = Area(0x07);
    /// Direct peripheral access (P).
    pub const PERIPHERAL: Area = Area(0x80);
    /// Inputs (I / E).
    pub const INPUTS: Area = Area(0x81);
    /// Outputs (Q / A).
    pub const OUTPUTS: Area = Area(0x82);
    /// Flags / bit memory (M).
    pub const FLAGS: Area = Area(0x83);
    /// Data blocks (DB).
    pub const DB: Area = Area(0x84);
    /// Instance data blocks (DI).
    pub const DI: Area = Area(0x85);
    /// Local data (L).
    pub const LOCAL: Area = Area(0x86);
    /// Local data of the calling block (V).
    pub const PREVIOUS_LOCAL: Area = Area(0x87);
    /// S7 counters (C / Z).
    pub const COUNTER: Area = Area(0x1C);
    /// S7 timers (T).
    pub const TIMER: Area = Area(0x1D);
    /// IEC counters (S7-200).
    pub const IEC_COUNTER: Area = Area(0x1E);
    /// IEC timers (S7-200).
    pub const IEC_TIMER: Area = Area(0x1F);

    /// Short mnemonic (`"DB"`, `"M"`, ...), `None` for unknown areas.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "RECORD",
            0x03 => "SI200",
            0x05 => "SF200",
            0x06 => "AI200",
            0x07 => "AO200",
            0x80 => "P",
            0x81 => "I",
            0x82 => "Q",
            0x83 => "M",
            0x84 => "DB",
            0x85 => "DI",
            0x86 => "L",
            0x87 => "V",
            0x1C => "C",
            0x1D => "T",
            0x1E => "C200",
            0x1F => "T200",
            _ => return None,
        })
    }
}

/// Transport size (element type) of an S7ANY address. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportSize(pub u8);

impl TransportSize {
    /// Bit.
    pub const BIT: TransportSize = TransportSize(1);
    /// Byte.
    pub const BYTE: TransportSize = TransportSize(2);
    /// Character.
    pub const CHAR: TransportSize = TransportSize(3);
    /// Word (16 bit).
    pub const WORD: TransportSize = TransportSize(4);
    /// Integer (16 bit).
    pub const INT: TransportSize = TransportSize(5);
    /// Double word (32 bit).
    pub const DWORD: TransportSize = TransportSize(6);
    /// Double integer (32 bit).
    pub const DINT: TransportSize = TransportSize(7);
    /// Real (32 bit float).
    pub const REAL: TransportSize = TransportSize(8);
    /// Date.
    pub const DATE: TransportSize = TransportSize(9);
    /// Time of day.
    pub const TOD: TransportSize = TransportSize(10);
    /// Time.
    pub const TIME: TransportSize = TransportSize(11);
    /// S5 time.
    pub const S5TIME: TransportSize = TransportSize(12);
    /// Date and time (8 bytes).
    pub const DATE_AND_TIME: TransportSize = TransportSize(15);
    /// S7 counter.
    pub const COUNTER: TransportSize = TransportSize(28);
    /// S7 timer.
    pub const TIMER: TransportSize = TransportSize(29);
    /// IEC counter.
    pub const IEC_COUNTER: TransportSize = TransportSize(30);
    /// IEC timer.
    pub const IEC_TIMER: TransportSize = TransportSize(31);
    /// High-speed counter.
    pub const HS_COUNTER: TransportSize = TransportSize(32);

    /// Name, `None` for unknown sizes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "BIT",
            2 => "BYTE",
            3 => "CHAR",
            4 => "WORD",
            5 => "INT",
            6 => "DWORD",
            7 => "DINT",
            8 => "REAL",
            9 => "DATE",
            10 => "TOD",
            11 => "TIME",
            12 => "S5TIME",
            15 => "DATE_AND_TIME",
            28 => "COUNTER",
            29 => "TIMER",
            30 => "IEC_COUNTER",
            31 => "IEC_TIMER",
            32 => "HS_COUNTER",
            _ => return None,
        })
    }

    /// Size of one element in bytes (a bit counts as one byte on the wire), `None` if unknown.
    pub const fn element_size(self) -> Option<u32> {
        Some(match self.0 {
            1..=3 => 1,
            4 | 5 | 9 | 12 | 28 | 29 => 2,
            6..=8 | 10 | 11 | 30..=32 => 4,
            15 => 8,
            _ => return None,
        })
    }
}

/// Transport size of a data item (read response / write request). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataTransportSize(pub u8);

impl DataTransportSize {
    /// No data (error item).
    pub const NULL: DataTransportSize = DataTransportSize(0x00);
    /// Bit access; length counts bits.
    pub const BIT: DataTransportSize = DataTransportSize(0x03);
    /// Byte/word/dword access; length counts bits.
    pub const BYTE_WORD_DWORD: DataTransportSize = DataTransportSize(0x04);
    /// Integer access; length counts bits.
    pub const INTEGER: DataTransportSize = DataTransportSize(0x05);
    /// Double integer access; length counts bytes.
    pub const DINTEGER: DataTransportSize = DataTransportSize(0x06);
    /// Real access; length counts bytes.
    pub const REAL: DataTransportSize = DataTransportSize(0x07);
    /// Octet string; length counts bytes.
    pub const OCTET_STRING: DataTransportSize = DataTransportSize(0x09);
    /// Sinumerik NCK address list (variant 1).
    pub const NCK_ADDRESS1: DataTransportSize = DataTransportSize(0x11);
    /// Sinumerik NCK address list (variant 2).
    pub const NCK_ADDRESS2: DataTransportSize = DataTransportSize(0x12);

    /// Name, `None` for unknown sizes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "NULL",
            0x03 => "BIT",
            0x04 => "BYTE/WORD/DWORD",
            0x05 => "INTEGER",
            0x06 => "DINTEGER",
            0x07 => "REAL",
            0x09 => "OCTET STRING",
            0x11 => "NCK ADDRESS1",
            0x12 => "NCK ADDRESS2",
            _ => return None,
        })
    }

    /// Whether the item's length field counts bits (3, 4, 5) rather than bytes.
    pub const fn length_in_bits(self) -> bool {
        matches!(self.0, 0x03..=0x05)
    }

    /// Number of data bytes for a raw length field value.
    pub const fn byte_len(self, length: u16) -> usize {
        if self.length_in_bits() {
            (length as usize).div_ceil(8)
        } else {
            length as usize
        }
    }
}

/// Return code of a data item (and of the userdata data part). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReturnCode(pub u8);

impl ReturnCode {
    /// Reserved (used in write requests).
    pub const RESERVED: ReturnCode = ReturnCode(0x00);
    /// Hardware fault.
    pub const HARDWARE_FAULT: ReturnCode = ReturnCode(0x01);
    /// Access to the object not allowed.
    pub const ACCESS_FAULT: ReturnCode = ReturnCode(0x03);
    /// Address out of range.
    pub const OUT_OF_RANGE: ReturnCode = ReturnCode(0x05);
    /// Data type not supported.
    pub const NOT_SUPPORTED: ReturnCode = ReturnCode(0x06);
    /// Data type inconsistent.
    pub const SIZE_MISMATCH: ReturnCode = ReturnCode(0x07);
    /// Object does not exist.
    pub const OBJECT_MISSING: ReturnCode = ReturnCode(0x0A);
    /// Success.
    pub const SUCCESS: ReturnCode = ReturnCode(0xFF);

    /// Name, `None` for unknown codes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "reserved",
            0x01 => "hardware fault",
            0x03 => "access not allowed",
            0x05 => "address out of range",
            0x06 => "data type not supported",
            0x07 => "data type inconsistent",
            0x0A => "object does not exist",
            0xFF => "success",
            _ => return None,
        })
    }

    /// Whether the item carries data after its 4-byte head (success or reserved).
    pub const fn carries_data(self) -> bool {
        matches!(self.0, 0x00 | 0xFF)
    }
}

/// Syntax id of a variable specification (third byte of an item). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyntaxId(pub u8);

impl SyntaxId {
    /// S7ANY pointer (area, DB, byte.bit address, count).
    pub const S7ANY: SyntaxId = SyntaxId(0x10);
    /// Short parameter (4-byte userdata head).
    pub const SHORT: SyntaxId = SyntaxId(0x11);
    /// Extended parameter (8-byte userdata head).
    pub const EXTENDED: SyntaxId = SyntaxId(0x12);
    /// PBC request id (USEND).
    pub const PBC_ID: SyntaxId = SyntaxId(0x13);
    /// Alarm lock/free dataset.
    pub const ALARM_LOCKFREE: SyntaxId = SyntaxId(0x15);
    /// Alarm indication dataset.
    pub const ALARM_IND: SyntaxId = SyntaxId(0x16);
    /// Alarm acknowledge dataset.
    pub const ALARM_ACK: SyntaxId = SyntaxId(0x19);
    /// Alarm query request dataset.
    pub const ALARM_QUERY: SyntaxId = SyntaxId(0x1A);
    /// Notify indication dataset.
    pub const NOTIFY_IND: SyntaxId = SyntaxId(0x1C);
    /// Sinumerik NCK access.
    pub const NCK: SyntaxId = SyntaxId(0x82);
    /// Sinumerik NCK access, metric units.
    pub const NCK_METRIC: SyntaxId = SyntaxId(0x83);
    /// Sinumerik NCK access, inch units.
    pub const NCK_INCH: SyntaxId = SyntaxId(0x84);
    /// Drive ES parameter access via routing.
    pub const DRIVE_ES_ANY: SyntaxId = SyntaxId(0xA2);
    /// S7-400 DB area read.
    pub const DB_READ: SyntaxId = SyntaxId(0xB0);
    /// S7-1200 symbolic addressing.
    pub const SYM_1200: SyntaxId = SyntaxId(0xB2);

    /// Name, `None` for unknown ids.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x10 => "S7ANY",
            0x11 => "ParameterShort",
            0x12 => "ParameterExtended",
            0x13 => "PBC-R_ID",
            0x15 => "ALARM_LOCKFREE",
            0x16 => "ALARM_IND",
            0x19 => "ALARM_ACK",
            0x1A => "ALARM_QUERYREQ",
            0x1C => "NOTIFY_IND",
            0x82 => "NCK",
            0x83 => "NCK_M",
            0x84 => "NCK_I",
            0xA2 => "DRIVEESANY",
            0xB0 => "DBREAD",
            0xB2 => "1200SYM",
            _ => return None,
        })
    }
}

/// Block type as transmitted in ASCII (two characters, e.g. `"0A"` = DB). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockType(pub u16);

impl BlockType {
    /// Organisation block (`"08"`).
    pub const OB: BlockType = BlockType(0x3038);
    /// CMod (`"09"`).
    pub const CMOD: BlockType = BlockType(0x3039);
    /// Data block (`"0A"`).
    pub const DB: BlockType = BlockType(0x3041);
    /// System data block (`"0B"`).
    pub const SDB: BlockType = BlockType(0x3042);
    /// Function (`"0C"`).
    pub const FC: BlockType = BlockType(0x3043);
    /// System function (`"0D"`).
    pub const SFC: BlockType = BlockType(0x3044);
    /// Function block (`"0E"`).
    pub const FB: BlockType = BlockType(0x3045);
    /// System function block (`"0F"`).
    pub const SFB: BlockType = BlockType(0x3046);

    /// Build from the two ASCII bytes.
    pub const fn from_ascii(b: [u8; 2]) -> BlockType {
        BlockType(u16::from_be_bytes(b))
    }

    /// Name (`"OB"`, `"DB"`, ...), `None` for unknown types.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x3038 => "OB",
            0x3039 => "CMod",
            0x3041 => "DB",
            0x3042 => "SDB",
            0x3043 => "FC",
            0x3044 => "SFC",
            0x3045 => "FB",
            0x3046 => "SFB",
            _ => return None,
        })
    }

    /// Block type from the one-byte sub-block code used in userdata block info (0x08 OB ... 0x0F SFB).
    pub const fn from_subblock(code: u8) -> Option<BlockType> {
        match code {
            0x08..=0x09 => Some(BlockType(0x3030 + code as u16)),
            0x0A..=0x0F => Some(BlockType(0x3041 + (code - 0x0A) as u16)),
            _ => None,
        }
    }
}

/// Userdata function group (low bits of parameter byte 5). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserdataGroup(pub u8);

impl UserdataGroup {
    /// Mode transition (push from the CPU).
    pub const MODE_TRANSITION: UserdataGroup = UserdataGroup(0x00);
    /// Programmer commands (test and installation functions, TIS).
    pub const PROGRAMMER: UserdataGroup = UserdataGroup(0x01);
    /// Cyclic data services.
    pub const CYCLIC: UserdataGroup = UserdataGroup(0x02);
    /// Block functions (list blocks, block info).
    pub const BLOCK: UserdataGroup = UserdataGroup(0x03);
    /// CPU functions (read SZL, messages, alarms).
    pub const CPU: UserdataGroup = UserdataGroup(0x04);
    /// Security (PLC password).
    pub const SECURITY: UserdataGroup = UserdataGroup(0x05);
    /// Programmable block communication (BSEND/BRECV).
    pub const PBC_BSEND: UserdataGroup = UserdataGroup(0x06);
    /// Time functions (read / set clock).
    pub const TIME: UserdataGroup = UserdataGroup(0x07);
    /// Data record routing.
    pub const DR_ROUTING: UserdataGroup = UserdataGroup(0x20);
    /// NC programming (Sinumerik file transfer).
    pub const NC_PROGRAMMING: UserdataGroup = UserdataGroup(0x3F);

    /// Name, `None` for unknown groups.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "mode transition",
            0x01 => "programmer commands",
            0x02 => "cyclic services",
            0x03 => "block functions",
            0x04 => "CPU functions",
            0x05 => "security",
            0x06 => "PBC BSEND/BRECV",
            0x07 => "time functions",
            0x20 => "DR routing",
            0x3F => "NC programming",
            _ => return None,
        })
    }

    /// Name of a subfunction within this group, `None` when unknown.
    pub const fn subfunction_name(self, sub: u8) -> Option<&'static str> {
        subfunction_name(self.0, sub)
    }
}

/// Programmer command (group 1) subfunction: memory reset.
pub const SUBF_PROG_MEMORY_RESET: u8 = 0x0C;
/// Programmer command (group 1) subfunction: force.
pub const SUBF_PROG_FORCE: u8 = 0x09;
/// Programmer command (group 1) subfunction: modify variable.
pub const SUBF_PROG_MODIFY_VARIABLE: u8 = 0x08;
/// Programmer command (group 1) subfunction: breakpoint.
pub const SUBF_PROG_BREAKPOINT: u8 = 0x0A;
/// Programmer command (group 1) subfunction: exit HOLD.
pub const SUBF_PROG_EXIT_HOLD: u8 = 0x0B;
/// Programmer command (group 1) subfunction: read job list.
pub const SUBF_PROG_READ_JOB_LIST: u8 = 0x10;
/// Programmer command (group 1) subfunction: replace job.
pub const SUBF_PROG_REPLACE_JOB: u8 = 0x12;
/// Block function (group 3) subfunction: list blocks.
pub const SUBF_BLOCK_LIST: u8 = 0x01;
/// Block function (group 3) subfunction: list blocks of type.
pub const SUBF_BLOCK_LIST_OF_TYPE: u8 = 0x02;
/// Block function (group 3) subfunction: get block info.
pub const SUBF_BLOCK_INFO: u8 = 0x03;
/// CPU function (group 4) subfunction: read SZL.
pub const SUBF_CPU_READ_SZL: u8 = 0x01;
/// Security (group 5) subfunction: PLC password.
pub const SUBF_SEC_PASSWORD: u8 = 0x01;
/// Time (group 7) subfunction: read clock.
pub const SUBF_TIME_READ: u8 = 0x01;
/// Time (group 7) subfunction: set clock.
pub const SUBF_TIME_SET: u8 = 0x02;
/// Time (group 7) subfunction: read clock (following).
pub const SUBF_TIME_READ_FOLLOWING: u8 = 0x03;
/// Time (group 7) subfunction: set clock (second variant).
pub const SUBF_TIME_SET2: u8 = 0x04;

/// Name of userdata subfunction `sub` in function group `group`, `None` when unknown.
pub const fn subfunction_name(group: u8, sub: u8) -> Option<&'static str> {
    Some(match (group, sub) {
        // Programmer commands / TIS.
        (0x01, 0x01) => "block status",
        (0x01, 0x02) => "variable status",
        (0x01, 0x03) => "output ISTACK",
        (0x01, 0x04) => "output BSTACK",
        (0x01, 0x05) => "output LSTACK",
        (0x01, 0x06) => "time measurement",
        (0x01, 0x07) => "force selection",
        (0x01, 0x08) => "modify variable",
        (0x01, 0x09) => "force",
        (0x01, 0x0A) => "breakpoint",
        (0x01, 0x0B) => "exit HOLD",
        (0x01, 0x0C) => "memory reset",
        (0x01, 0x0D) => "disable job",
        (0x01, 0x0E) => "enable job",
        (0x01, 0x0F) => "delete job",
        (0x01, 0x10) => "read job list",
        (0x01, 0x11) => "read job",
        (0x01, 0x12) => "replace job",
        (0x01, 0x13) => "block status v2",
        (0x01, 0x16) => "flash LED",
        // Cyclic services.
        (0x02, 0x01) => "cyclic transfer",
        (0x02, 0x04) => "unsubscribe",
        (0x02, 0x05) => "change-driven transfer",
        (0x02, 0x07) => "change-driven transfer modify",
        (0x02, 0x08) => "read data record (RDREC)",
        // Block functions.
        (0x03, 0x01) => "list blocks",
        (0x03, 0x02) => "list blocks of type",
        (0x03, 0x03) => "get block info",
        // CPU functions.
        (0x04, 0x01) => "read SZL",
        (0x04, 0x02) => "message service",
        (0x04, 0x03) => "diagnostic message",
        (0x04, 0x05) => "ALARM_8 indication",
        (0x04, 0x06) => "NOTIFY indication",
        (0x04, 0x07) => "ALARM_8 lock",
        (0x04, 0x08) => "ALARM_8 unlock",
        (0x04, 0x09) => "SCAN indication",
        (0x04, 0x0B) => "ALARM ack",
        (0x04, 0x0C) => "ALARM ack indication",
        (0x04, 0x0D) => "ALARM lock indication",
        (0x04, 0x0E) => "ALARM unlock indication",
        (0x04, 0x10) => "AR_SEND indication",
        (0x04, 0x11) => "ALARM_SQ indication",
        (0x04, 0x12) => "ALARM_S indication",
        (0x04, 0x13) => "ALARM query",
        (0x04, 0x16) => "NOTIFY_8 indication",
        // Security.
        (0x05, 0x01) => "PLC password",
        // Time functions.
        (0x07, 0x01) => "read clock",
        (0x07, 0x02) => "set clock",
        (0x07, 0x03) => "read clock (following)",
        (0x07, 0x04) => "set clock",
        // Data record routing.
        (0x20, 0x01) => "DRR init",
        (0x20, 0x02) => "DRR finish",
        (0x20, 0x03) => "DRR data",
        // NC programming.
        (0x3F, 0x01) => "request download",
        (0x3F, 0x02) => "download block",
        (0x3F, 0x03) => "continue download",
        (0x3F, 0x04) => "download ended",
        (0x3F, 0x06) => "start upload",
        (0x3F, 0x07) => "upload",
        (0x3F, 0x08) => "continue upload",
        _ => return None,
    })
}

/// Userdata type (bits 7..6 of parameter byte 5): push, request or response. Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserdataType(pub u8);

impl UserdataType {
    /// Push / indication from the CPU.
    pub const PUSH: UserdataType = UserdataType(0);
    /// Request.
    pub const REQUEST: UserdataType = UserdataType(1);
    /// Response.
    pub const RESPONSE: UserdataType = UserdataType(2);

    /// Name, `None` for the undefined value 3.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "push",
            1 => "request",
            2 => "response",
            _ => return None,
        })
    }
}

/// Operating mode reported by a mode-transition push (and SZL 0x0424). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatingMode(pub u8);

impl OperatingMode {
    /// Name, `None` for unknown modes.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "STOP",
            1 => "warm restart",
            2 => "RUN",
            3 => "hot restart",
            4 => "HOLD",
            6 => "cold restart",
            9 => "RUN_R (H system redundant)",
            11 => "LINK-UP",
            12 => "UPDATE",
            _ => return None,
        })
    }
}

/// Description of a PI (program invocation) service name, `None` when unknown.
///
/// Covers the PLC services (`P_PROGRAM`, `_INSE`, `_INS2`, `_DELE`, `_MODU`,
/// `_GARB`) and the Sinumerik NC services (`_N_...`).
pub fn pi_service_description(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"P_PROGRAM" => "PLC start / stop",
        b"_INSE" => "activate (insert) a block",
        b"_INS2" => "activate (insert) a block",
        b"_DELE" => "delete a block",
        b"_MODU" => "copy RAM to ROM",
        b"_GARB" => "compress PLC memory",
        b"_N_LOGIN_" => "NC login",
        b"_N_LOGOUT" => "NC logout",
        b"_N_CANCEL" => "cancel NC alarm",
        b"_N_DASAVE" => "copy NC data from SRAM to flash",
        b"_N_DIGIOF" => "digitising off",
        b"_N_DIGION" => "digitising on",
        b"_N_DZERO_" => "invalidate all D numbers",
        b"_N_ENDEXT" => "end external program",
        b"_N_F_OPER" => "open file read-only",
        b"_N_OST_OF" => "overstore off",
        b"_N_OST_ON" => "overstore on",
        b"_N_SCALE_" => "switch metric / inch",
        b"_N_SETUFR" => "activate user frame",
        b"_N_STRTLK" => "set global start lock",
        b"_N_STRTUL" => "reset global start lock",
        b"_N_TMRASS" => "reset active state",
        b"_N_F_DELE" => "delete file",
        b"_N_EXTERN" => "select external program",
        b"_N_EXTMOD" => "select external program",
        b"_N_F_DELR" => "delete file without access rights",
        b"_N_F_XFER" => "select file for upload",
        b"_N_LOCKE_" => "lock active file for editing",
        b"_N_SELECT" => "select program for execution",
        b"_N_SRTEXT" => "mark file in external directory",
        b"_N_F_CLOS" => "close file",
        b"_N_F_OPEN" => "open file",
        b"_N_F_SEEK" => "position file pointer",
        b"_N_ASUP__" => "assign interrupt",
        b"_N_CHEKDM" => "check D number uniqueness",
        b"_N_CHKDNO" => "check tool D numbers",
        b"_N_CONFIG" => "reconfigure machine data",
        b"_N_CRCEDN" => "create cutting edge by number",
        b"_N_DELECE" => "delete cutting edge",
        b"_N_CREACE" => "create cutting edge",
        b"_N_CREATO" => "create tool",
        b"_N_DELETO" => "delete tool",
        b"_N_CRTOCE" => "create tool with edge number",
        b"_N_DELVAR" => "delete data block",
        b"_N_F_COPY" => "copy file",
        b"_N_F_DMDA" => "delete MDA memory",
        b"_N_F_PROR" => "file protection (read)",
        b"_N_F_PROT" => "set file protection level",
        b"_N_F_RENA" => "rename file",
        b"_N_FINDBL" => "activate block search",
        b"_N_IBN_SS" => "set setup switch",
        b"_N_MMCSEM" => "MMC semaphore",
        b"_N_NCKMOD" => "set NCK mode",
        b"_N_NEWPWD" => "set new password",
        b"_N_SEL_BL" => "select block",
        b"_N_SETTST" => "activate replacement tools",
        b"_N_TMAWCO" => "set active wear group",
        b"_N_TMCRTC" => "create tool with edge",
        b"_N_TMCRTO" => "create tool in tool management",
        b"_N_TMFDPL" => "find empty place for loading",
        b"_N_TMFPBP" => "find empty location",
        b"_N_TMGETT" => "get T number for tool id",
        b"_N_TMMVTL" => "load / unload tool",
        b"_N_TMPCIT" => "set piece counter increment",
        b"_N_TMPOSM" => "position magazine or tool",
        b"_N_TRESMO" => "reset monitoring values",
        b"_N_TSEARC" => "complex tool search",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ErrorCode(0xD602).name(), Some("wrong password"));
        assert_eq!(ErrorCode::PROTECTION_LEVEL.class(), ErrorClass(0xD0));
        assert_eq!(ErrorCode(0x8104).class().name(), Some("application relationship error"));
        assert_eq!(Area(0x84).name(), Some("DB"));
        assert_eq!(TransportSize::REAL.element_size(), Some(4));
        assert_eq!(DataTransportSize::BYTE_WORD_DWORD.byte_len(17), 3);
        assert_eq!(DataTransportSize::OCTET_STRING.byte_len(17), 17);
        assert_eq!(BlockType::from_ascii(*b"0A"), BlockType::DB);
        assert_eq!(BlockType::from_subblock(0x08), Some(BlockType::OB));
        assert_eq!(BlockType::from_subblock(0x0E), Some(BlockType::FB));
        assert_eq!(subfunction_name(1, 0x0C), Some("memory reset"));
        assert_eq!(UserdataGroup::TIME.subfunction_name(2), Some("set clock"));
        assert_eq!(pi_service_description(b"_GARB"), Some("compress PLC memory"));
        assert_eq!(pi_service_description(b"XYZ"), None);
    }
}
