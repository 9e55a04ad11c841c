namespace Cdc.Checkpoint.TestSupport;

/// <summary>
/// A private temp directory for one test: unique (<see cref="Directory.CreateTempSubdirectory(string?)"/>, mkdtemp),
/// mode 0700, removed with everything in it at dispose. The one temp-directory helper of every test project.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    /// <summary>Owner read and write (0600), the mode the library gives its files.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Owner read, write and search (0700), the mode the library gives its directories.</summary>
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the directory.</summary>
    /// <param name="prefix">The start of the directory's name, to tell whose leftovers a crashed run left behind.</param>
    public TempDirectory(string prefix = "cdc-test-")
    {
        // mkdtemp: a fresh name, created 0700 in one step (no window in which another user could open it).
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    /// <summary>Gets the absolute path of the directory.</summary>
    public string Path { get; }

    /// <summary>Returns the path of <paramref name="name"/> in the directory (nothing is created).</summary>
    /// <param name="name">A file or directory name, or a relative path.</param>
    /// <returns>The combined path.</returns>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Returns the path of <paramref name="parts"/> joined under the directory (nothing is created).</summary>
    /// <param name="parts">Path segments.</param>
    /// <returns>The combined path.</returns>
    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Writes a text file in the directory and sets its mode.</summary>
    /// <param name="name">The file name.</param>
    /// <param name="contents">The text (UTF-8).</param>
    /// <param name="mode">The file's mode; 0600 unless told.</param>
    /// <returns>The file's path.</returns>
    public string Write(string name, string contents, UnixFileMode mode = Private)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, contents);
        System.IO.File.SetUnixFileMode(path, mode);
        return path;
    }

    /// <summary>Creates a 0700 subdirectory.</summary>
    /// <param name="name">The subdirectory's name or relative path.</param>
    /// <returns>Its path.</returns>
    public string Sub(string name)
    {
        var path = File(name);
        Directory.CreateDirectory(path, PrivateDirectory);
        return path;
    }

    /// <summary>Removes the directory and everything in it; a test that already removed it, or left it unremovable, does not fail here.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Already gone, held by a child process, or made unreadable by a hostile-file test: failing the test over its
            // scratch directory would hide its real result, and /tmp is cleaned eventually.
        }
    }
}
