import TestSupport
import Testing
import VectorIO
import VectorMath

@Suite struct LabelsTests {
  @Test(
    "Market-1501 and DukeMTMC names give pid and camera",
    arguments: [
      ("0001_c1s1_001051_00", ItemLabels(pid: 1, camera: 1)),
      ("1501_c6s4_001877_02", ItemLabels(pid: 1501, camera: 6)),
      ("0000_c3s2_000151_01", ItemLabels(pid: 0, camera: 3)),
      ("-1_c3s2_000151_01", ItemLabels(pid: -1, camera: 3)),
      ("0005_c2_f0046182", ItemLabels(pid: 5, camera: 2)),
      ("0042_c12", ItemLabels(pid: 42, camera: 12)),
    ])
  func marketNames(name: String, labels: ItemLabels) {
    #expect(ItemLabels(marketName: name) == labels)
  }

  @Test(
    "other names are not Market-1501 names",
    arguments: [
      "digit-0001", "0001", "0001_x1", "_c1s1", "0001_cs1", "-2_c1s1_000001_00", "0001_c1x",
      "abc_c1s1",
    ])
  func notMarketNames(name: String) {
    #expect(ItemLabels(marketName: name) == nil)
  }

  @Test(
    "MSMT17 names give the pid (first field) and the camera (third, as written)",
    arguments: [
      ("0004_000_01_0303morning_0015_0", ItemLabels(pid: 4, camera: 1)),
      ("1040_012_15_0113noon_0789_2", ItemLabels(pid: 1040, camera: 15)),
      ("0000_003_07_0302afternoon_0101_1", ItemLabels(pid: 0, camera: 7)),
    ])
  func msmtNames(name: String, labels: ItemLabels) {
    #expect(ItemLabels(msmtName: name) == labels)
    #expect(ItemLabels(datasetName: name) == labels)
    #expect(ItemLabels(marketName: name) == nil)
  }

  @Test(
    "other names are not MSMT17 names",
    arguments: [
      "0004_000_01", "0004_000_01_0303evening_0015_0", "a004_000_01_0303noon_1_0",
      "0004__01_0303noon_1",
    ])
  func notMSMTNames(name: String) {
    #expect(ItemLabels(msmtName: name) == nil)
  }

  @Test("labels.csv with quotes, CRLF, a byte-order mark and empty fields")
  func parsesLabels() throws {
    let text =
      "\u{FEFF}name,pid,camera\r\na,1,2\r\n\"b, quoted\",3,\r\n\"say \"\"hi\"\"\",,4\r\n\r\n"
    let labels = try LabelsFile(path: "labels.csv", text: text)
    #expect(labels.entries.map(\.name) == ["a", "b, quoted", "say \"hi\""])
    #expect(
      labels.entries.map(\.labels) == [
        ItemLabels(pid: 1, camera: 2), ItemLabels(pid: 3, camera: nil),
        ItemLabels(pid: nil, camera: 4),
      ])
    #expect(labels.entries.map(\.line) == [2, 3, 4])
    #expect(labels.entry(named: "a")?.labels.pid == 1)
  }

  @Test("a quoted name may hold a line break, and writing then reading gives it back")
  func quotedLineBreak() throws {
    let entries = [
      LabelsFile.Entry(name: "two\nlines", labels: ItemLabels(pid: 1, camera: 2)),
      LabelsFile.Entry(name: "plain", labels: ItemLabels(pid: 3, camera: nil)),
      LabelsFile.Entry(name: "crlf\r\nname, with comma", labels: ItemLabels(pid: 4, camera: 1)),
    ]
    let directory = TemporaryDirectory()
    let path = directory.file("labels.csv")
    try LabelsFile.write(entries, to: path)
    let read = try LabelsFile(path: path)
    #expect(read.entries.map(\.name) == entries.map(\.name))
    #expect(read.entries.map(\.labels) == entries.map(\.labels))
    #expect(read.entries.map(\.line) == [2, 4, 5])
    // An open quote that never closes names the line it starts on.
    do {
      _ = try LabelsFile(path: "x.csv", text: "name,pid,camera\nok,1,1\n\"open,2,2\nmore,3,3\n")
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("x.csv, line 3"), "\(error)")
      #expect(error.description.contains("never closed"))
    }
  }

  @Test("an optional group column gives each item a coarser class")
  func parsesGroups() throws {
    let labels = try LabelsFile(
      path: "labels.csv", text: "name,pid,camera,group\na,1,2,10\nb,3,,\nc,4,1,-1\n")
    #expect(
      labels.entries.map(\.labels) == [
        ItemLabels(pid: 1, camera: 2, group: 10), ItemLabels(pid: 3, camera: nil, group: nil),
        ItemLabels(pid: 4, camera: 1, group: -1),
      ])
  }

  @Test("headers in torchreid's and fast-reid's spellings, in any order and case")
  func headerSpellings() throws {
    for text in [
      "name,person_id,camid\na,3,2\n", "Name,CAMID,PID\na,2,3\n", "cam,name,pid\n2,a,3\n",
      "name,pid,cam,group\na,3,2,\n",
    ] {
      let labels = try LabelsFile(path: "labels.csv", text: text)
      #expect(labels.entries.map(\.name) == ["a"], "\(text)")
      #expect(labels.entries.first?.labels == ItemLabels(pid: 3, camera: 2), "\(text)")
    }
  }

  @Test(
    "bad labels files name the line and the problem",
    arguments: [
      ("id,pid,camera\na,1,1\n", 1, "'id' is not a column this file can have"),
      (
        "name,pid\na,1\n", 1,
        "lacks the camera column: expected name, pid (pid, person_id), camera (camera, camid, cam), group"
      ),
      ("name,pid,camid,cam\na,1,1,1\n", 1, "names the camera column twice"),
      ("name,pid,camera\na,1,1\nb,x,1\n", 3, "pid 'x' is not an integer"),
      ("name,pid,camera\na,1,1\nb,2,1.5\n", 3, "camera '1.5' is not an integer"),
      ("name,pid,camera\na,1\n", 2, "has 2 fields; expected 3"),
      ("name,pid,camera\na,1,1\nb,2,2\na,3,3\n", 4, "already listed on line 2"),
      ("name,pid,camera\n,1,1\n", 2, "the name is empty"),
      ("name,pid,camera\n\"a,1,1\n", 2, "never closed"),
      ("name,pid,camera\na,99999999999,1\n", 2, "not an integer"),
      ("name,pid,camera,group\na,1,1,1\nb,2,2\n", 3, "has 3 fields; expected 4"),
      ("name,pid,camera,group\na,1,1,car\n", 2, "group 'car' is not an integer"),
      ("name,pid,camera,level\na,1,1,1\n", 1, "'level' is not a column"),
    ])
  func badLabels(text: String, line: Int, expected: String) throws {
    do {
      _ = try LabelsFile(path: "dir/labels.csv", text: text)
      Issue.record("accepted bad labels")
    } catch {
      #expect(error.location == .line(line))
      #expect(error.message.contains(expected), "\(error)")
      #expect(error.description.hasPrefix("dir/labels.csv, line \(line): "))
    }
  }
}
