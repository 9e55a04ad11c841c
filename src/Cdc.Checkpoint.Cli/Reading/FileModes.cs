namespace Cdc.Checkpoint.Cli.Reading;

/// <summary>Unix permission helpers for reports.</summary>
internal static class FileModes
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Octal text such as <c>0600</c> (permission bits only).</summary>
    public static string Format(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');

    /// <summary>Whether group or other may read, write or execute.</summary>
    public static bool IsGroupOrOtherAccessible(UnixFileMode mode) => (mode & GroupOrOther) != 0;

    /// <summary>Whether group or other may write (create, rename or delete entries of a directory).</summary>
    public static bool IsGroupOrOtherWritable(UnixFileMode mode) => (mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;
}
