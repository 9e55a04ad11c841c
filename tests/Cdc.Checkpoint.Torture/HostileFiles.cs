using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// What a hostile user or an unlucky operator can leave where a checkpoint file belongs (issue 17 campaigns of
/// Cdc.Checkpoint.Proof.Tests and Cdc.Checkpoint.Cli.Tests; the CLI tests compile this file in by link).
/// </summary>
public sealed class HostileFiles : IDisposable
{
    /// <summary>The user id of <c>nobody</c>: the owner of a planted foreign file.</summary>
    public const int Nobody = 65534;

    /// <summary>Every variant <see cref="PlantAsync"/> knows.</summary>
    public static readonly string[] Variants = ["fifo", "socket", "directory", "link-to-file", "link-to-directory", "dangling-link", "link-loop", "hard-link", "foreign-owner"];

    private Socket? _socket;

    /// <summary>
    /// Puts <paramref name="variant"/> at <paramref name="target"/> (an existing file). A hard link's second name, and
    /// the copy of the file a symbolic link points to, is <paramref name="victim"/>, outside the store; a link to a
    /// directory points at the victim's directory.
    /// </summary>
    public async Task PlantAsync(string target, string victim, string variant, CancellationToken cancellationToken)
    {
        switch (variant)
        {
            case "hard-link":
                await RunAsync("ln", [target, victim], cancellationToken);
                return;
            case "foreign-owner":
                await RunAsync("chown", [Nobody.ToString(CultureInfo.InvariantCulture), target], cancellationToken);
                return;
        }

        File.Copy(target, victim);
        File.Delete(target);
        switch (variant)
        {
            case "fifo":
                await RunAsync("mkfifo", ["-m", "600", target], cancellationToken);
                break;
            case "socket":
                // Kept open until Dispose: .NET removes the socket's file when the socket is disposed.
                _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                _socket.Bind(new UnixDomainSocketEndPoint(target));
                break;
            case "directory":
                Directory.CreateDirectory(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                break;
            case "link-to-file":
                File.CreateSymbolicLink(target, victim);
                break;
            case "link-to-directory":
                File.CreateSymbolicLink(target, Path.GetDirectoryName(victim)!);
                break;
            case "dangling-link":
                File.CreateSymbolicLink(target, victim + ".missing");
                break;
            case "link-loop":
                File.CreateSymbolicLink(target, target);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(variant), variant, "unknown variant");
        }
    }

    /// <summary>Runs a program to completion; throws when it fails.</summary>
    public static async Task RunAsync(string program, string[] args, CancellationToken cancellationToken)
    {
        using var process = Process.Start(program, args);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited with {process.ExitCode}");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _socket?.Dispose();
}
