using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// The handful of MariaDB Connector/C (<c>libmariadb.so.3</c>, Debian package <c>libmariadb3</c>) calls the test
/// provider needs. Signatures follow <c>mysql.h</c> of Connector/C 3.3: C <c>unsigned long</c> is 64-bit on Linux
/// (<see cref="CULong"/>), <c>my_ulonglong</c> is <see cref="ulong"/>, <c>my_bool</c> is a byte.
/// </summary>
internal static unsafe partial class MariaDbNative
{
    private const string Library = "libmariadb.so.3";

    // enum mysql_option
    public const int MYSQL_OPT_CONNECT_TIMEOUT = 0;
    public const int MYSQL_SET_CHARSET_NAME = 7;
    public const int MYSQL_OPT_PROTOCOL = 9;

    // enum mysql_protocol_type
    public const uint MYSQL_PROTOCOL_TCP = 1;
    public const uint MYSQL_PROTOCOL_SOCKET = 2;

    // client capability flags (mariadb_com.h)
    public const ulong CLIENT_FOUND_ROWS = 2;
    public const ulong CLIENT_MULTI_STATEMENTS = 1UL << 16;
    public const ulong CLIENT_MULTI_RESULTS = 1UL << 17;

    // column flags
    public const uint UNSIGNED_FLAG = 32;

    /// <summary>Character set number of the <c>binary</c> pseudo charset: such columns are bytes, not text.</summary>
    public const uint BinaryCharsetNumber = 63;

    private static readonly Lock InitLock = new();
    private static bool s_initialized;

    /// <summary>
    /// <c>mysql_server_init</c> is not thread-safe and <c>mysql_init</c> calls it implicitly when nobody did, so it is
    /// called once, under a lock, before the first handle is created.
    /// </summary>
    public static void EnsureInitialized()
    {
        lock (InitLock)
        {
            if (s_initialized)
            {
                return;
            }

            int rc;
            try
            {
                rc = mysql_server_init(0, IntPtr.Zero, IntPtr.Zero);
            }
            catch (DllNotFoundException e)
            {
                throw new InvalidOperationException(
                    $"MariaDB Connector/C ({Library}) was not found. Install it with `apt-get install -y libmariadb3`.", e);
            }

            if (rc != 0)
            {
                throw new InvalidOperationException($"mysql_server_init failed with {rc}.");
            }

            s_initialized = true;
        }
    }

    [LibraryImport(Library)]
    private static partial int mysql_server_init(int argc, IntPtr argv, IntPtr groups);

    [LibraryImport(Library)]
    public static partial MariaDbHandle mysql_init(IntPtr mysql);

    [LibraryImport(Library)]
    public static partial int mysql_options(MariaDbHandle mysql, int option, void* arg);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr mysql_real_connect(
        MariaDbHandle mysql, string? host, string? user, string? passwd, string? db, uint port, string? unixSocket, CULong clientFlag);

    [LibraryImport(Library)]
    public static partial int mysql_real_query(MariaDbHandle mysql, byte* query, CULong length);

    [LibraryImport(Library)]
    public static partial IntPtr mysql_store_result(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial uint mysql_field_count(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial ulong mysql_affected_rows(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial int mysql_next_result(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial uint mysql_errno(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial IntPtr mysql_error(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial IntPtr mysql_sqlstate(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial CULong mysql_real_escape_string(MariaDbHandle mysql, byte* to, byte* from, CULong length);

    [LibraryImport(Library)]
    public static partial CULong mysql_thread_id(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial IntPtr mysql_get_server_info(MariaDbHandle mysql);

    [LibraryImport(Library)]
    public static partial uint mysql_num_fields(IntPtr result);

    [LibraryImport(Library)]
    public static partial MysqlField* mysql_fetch_fields(IntPtr result);

    [LibraryImport(Library)]
    public static partial byte** mysql_fetch_row(IntPtr result);

    [LibraryImport(Library)]
    public static partial CULong* mysql_fetch_lengths(IntPtr result);

    [LibraryImport(Library)]
    public static partial void mysql_free_result(IntPtr result);

    [LibraryImport(Library)]
    public static partial void mysql_close(IntPtr mysql);

    /// <summary><c>MYSQL_FIELD</c> (mysql.h, Connector/C 3.x), field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MysqlField
    {
        public byte* Name;
        public byte* OrgName;
        public byte* Table;
        public byte* OrgTable;
        public byte* Db;
        public byte* Catalog;
        public byte* Def;
        public CULong Length;
        public CULong MaxLength;
        public uint NameLength;
        public uint OrgNameLength;
        public uint TableLength;
        public uint OrgTableLength;
        public uint DbLength;
        public uint CatalogLength;
        public uint DefLength;
        public uint Flags;
        public uint Decimals;
        public uint CharsetNumber;
        public int Type;
        public void* Extension;
    }
}

/// <summary>A <c>MYSQL*</c> from <c>mysql_init</c>; released with <c>mysql_close</c> (also after a failed connect).</summary>
internal sealed class MariaDbHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public MariaDbHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        MariaDbNative.mysql_close(handle);
        return true;
    }
}
