namespace Cdc.Checkpoint.Cli.Tests.Support;

/// <summary>A private (0700) temp directory deleted at dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cdc-cli-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string contents, UnixFileMode mode = Private)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, contents);
        System.IO.File.SetUnixFileMode(path, mode);
        return path;
    }

    public string Sub(string name)
    {
        var path = File(name);
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
