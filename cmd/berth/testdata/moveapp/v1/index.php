<?php
// Build 1 of the app the migration end-to-end test moves: every request
// writes a row (id, build) to its MariaDB database, named by the settings
// file berth wrote (BERTH_SETTINGS), and answers with the row count.
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
    $db->exec('CREATE TABLE IF NOT EXISTS visits (id INT AUTO_INCREMENT PRIMARY KEY, build VARCHAR(8) NOT NULL)');
    $db->exec("INSERT INTO visits (build) VALUES ('v1')");
    $n = $db->query('SELECT COUNT(*) FROM visits')->fetchColumn();
    echo "v1 rows=$n\n";
} catch (Throwable $e) {
    http_response_code(500);
    echo 'error: ', $e->getMessage(), "\n";
}
