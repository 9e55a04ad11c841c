using Cdc.Checkpoint.MySql.Validation;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>Flavour and version detection, and the statements chosen for MySQL 8.0, MySQL 8.2+/8.4 and MariaDB.</summary>
public sealed class ServerFactsTests
{
    [Theory]
    [InlineData("8.0.36", null, MySqlServerFlavor.MySql, "8.0.36")]
    [InlineData("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)", MySqlServerFlavor.MySql, "8.0.36")]
    [InlineData("8.4.0", "MySQL Community Server - GPL", MySqlServerFlavor.MySql, "8.4.0")]
    [InlineData("8.3.0-commercial", null, MySqlServerFlavor.MySql, "8.3.0")]
    [InlineData("9.1", null, MySqlServerFlavor.MySql, "9.1.0")]
    [InlineData("10.11.19-MariaDB-0+deb12u1-log", "Debian 12", MySqlServerFlavor.MariaDb, "10.11.19")]
    [InlineData("5.5.5-10.6.12-MariaDB", null, MySqlServerFlavor.MariaDb, "10.6.12")]
    [InlineData("11.4.2", "mariadb.org binary distribution", MySqlServerFlavor.MariaDb, "11.4.2")]
    public void ParseVersion_KnownVersionStrings_FlavourAndNumber(string version, string? comment, MySqlServerFlavor flavor, string number)
    {
        var (parsedFlavor, parsedVersion) = MySqlServerFacts.ParseVersion(version, comment);
        parsedFlavor.ShouldBe(flavor);
        parsedVersion.ShouldBe(Version.Parse(number));
    }

    [Theory]
    [InlineData("")]
    [InlineData("MariaDB")]
    [InlineData("v8.0")]
    [InlineData("8")]
    public void ParseVersion_NoMajorMinor_FormatExceptionQuotesTheText(string version)
    {
        Should.Throw<FormatException>(() => MySqlServerFacts.ParseVersion(version)).Message.ShouldContain($"'{version}'");
    }

    [Theory]
    [InlineData(MySqlServerFlavor.MySql, "8.0.36", "SHOW MASTER STATUS")]
    [InlineData(MySqlServerFlavor.MySql, "8.1.0", "SHOW MASTER STATUS")]
    [InlineData(MySqlServerFlavor.MySql, "8.2.0", "SHOW BINARY LOG STATUS")]
    [InlineData(MySqlServerFlavor.MySql, "8.4.3", "SHOW BINARY LOG STATUS")]
    [InlineData(MySqlServerFlavor.MySql, "9.1.0", "SHOW BINARY LOG STATUS")]
    [InlineData(MySqlServerFlavor.MariaDb, "10.11.19", "SHOW MASTER STATUS")]
    [InlineData(MySqlServerFlavor.MariaDb, "11.4.2", "SHOW MASTER STATUS")]
    public void BinlogStatusSql_ByFlavourAndVersion_UsesTheStatementTheServerHas(MySqlServerFlavor flavor, string version, string expected)
    {
        MySqlDialect.BinlogStatusSql(flavor, Version.Parse(version)).ShouldBe(expected);
    }

    [Fact]
    public void ParseGtidList_GtidBinlogStateWithSeveralServersPerDomain_SortedByDomainThenServer()
    {
        var state = MySqlResumeValidator.ParseGtidList(" 1-2-5,0-9-8,\n0-1-7 ");
        state.Select(g => g.ToString()).ShouldBe(["0-1-7", "0-9-8", "1-2-5"]);
        MySqlResumeValidator.ParseGtidList(string.Empty).ShouldBeEmpty();
        Should.Throw<FormatException>(() => MySqlResumeValidator.ParseGtidList("0-1-x"));
    }

    [Fact]
    public void ToString_MySqlAndMariaDbFacts_NameTheStateAnOperatorNeeds()
    {
        var mysql = ResumeFactsBuilder.MySqlServer($"{ResumeFactsBuilder.A}:1-5", purged: $"{ResumeFactsBuilder.A}:1-2").ToString();
        mysql.ShouldContain("MySQL 8.4.0");
        mysql.ShouldContain($"gtid_purged='{ResumeFactsBuilder.A}:1-2'");
        mysql.ShouldContain("mysql-bin.000005..mysql-bin.000007 (3)");

        var mariadb = ResumeFactsBuilder.MariaDbServer("0-1-5", earliest: "0-1-2").ToString();
        mariadb.ShouldContain("MariaDB 10.11.19 (server_id 1)");
        mariadb.ShouldContain("oldest binlog starts after '0-1-2'");
        mariadb.ShouldContain("gtid_strict_mode=ON");
    }
}
