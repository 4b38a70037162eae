<?php
// A small app for berth's database end-to-end test: it reads the settings
// file berth wrote (its pool sets BERTH_SETTINGS), writes a row to its
// database and answers with what it reads back.
$env = [];
foreach (file(getenv('BERTH_SETTINGS'), FILE_IGNORE_NEW_LINES) as $line) {
    if (preg_match("/^([A-Z_]+)='(.*)'$/", $line, $m)) {
        $env[$m[1]] = $m[2];
    }
}
header('Content-Type: text/plain');
try {
    switch ($env['DB_DRIVER'] ?? '') {
    case 'mysql':
        $dsn = isset($env['DB_SOCKET'])
            ? "mysql:unix_socket={$env['DB_SOCKET']};dbname={$env['DB_NAME']}"
            : "mysql:host={$env['DB_HOST']};port={$env['DB_PORT']};dbname={$env['DB_NAME']}";
        $db = new PDO($dsn, $env['DB_USER'], $env['DB_PASSWORD']);
        break;
    case 'pgsql':
        $db = new PDO("pgsql:host={$env['DB_HOST']};port={$env['DB_PORT']};dbname={$env['DB_NAME']}", $env['DB_USER'], $env['DB_PASSWORD']);
        break;
    case 'sqlite':
        $db = new PDO("sqlite:{$env['DB_PATH']}");
        break;
    default:
        http_response_code(500);
        echo "no database in the settings\n";
        exit;
    }
    $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
    $db->exec('CREATE TABLE IF NOT EXISTS visits (domain VARCHAR(255))');
    $db->prepare('INSERT INTO visits (domain) VALUES (?)')->execute([$env['SITE_DOMAIN']]);
    $n = $db->query('SELECT COUNT(*) FROM visits')->fetchColumn();
    $d = $db->query('SELECT domain FROM visits LIMIT 1')->fetchColumn();
    echo "driver={$env['DB_DRIVER']} rows=$n domain=$d\n";
} catch (Throwable $e) {
    http_response_code(500);
    echo 'error: ' . get_class($e) . "\n";
}
