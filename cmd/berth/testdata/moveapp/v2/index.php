<?php
// Build 2 of the migration test's app: it needs the schema of its update
// step (update.php: the column visits.note, the table updates); without
// it every request fails with a 500.
$env = [];
foreach (file(getenv('BERTH_SETTINGS'), FILE_IGNORE_NEW_LINES) as $line) {
    if (preg_match("/^([A-Z_]+)='(.*)'$/", $line, $m)) {
        $env[$m[1]] = $m[2];
    }
}
header('Content-Type: text/plain');
try {
    $db = new PDO("mysql:host={$env['DB_HOST']};port={$env['DB_PORT']};dbname={$env['DB_NAME']}", $env['DB_USER'], $env['DB_PASSWORD']);
    $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
    $db->exec("INSERT INTO visits (build, note) VALUES ('v2', 'after the update')");
    $n = $db->query('SELECT COUNT(*) FROM visits')->fetchColumn();
    $u = $db->query('SELECT COUNT(*) FROM updates')->fetchColumn();
    echo "v2 rows=$n updates=$u\n";
} catch (Throwable $e) {
    http_response_code(500);
    echo 'error: ', $e->getMessage(), "\n";
}
