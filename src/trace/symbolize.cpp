#include "trace/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cxxabi.h>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <unordered_map>

namespace aotgrad::trace {

namespace {

// "aotgrad::models::(anonymous namespace)::SimpleLinear::run(...)" -> "run"
std::string short_name(const char* raw) {
  if (raw == nullptr) return "?";
  std::string name = raw;
  int status = 0;
  if (char* d = abi::__cxa_demangle(raw, nullptr, nullptr, &status)) {
    name = d;
    std::free(d);
  }
  // Drop the argument list, then keep the last scope component.
  for (size_t p; (p = name.find("(anonymous namespace)")) != std::string::npos;) name.replace(p, 21, "anon");
  int depth = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (name[i] == '(' && depth == 0 && i > 0) {
      name = name.substr(0, i);
      break;
    }
  }
  size_t colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

std::string source_line(const std::string& file, int line) {
  static std::unordered_map<std::string, std::vector<std::string>> files;
  auto it = files.find(file);
  if (it == files.end()) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    it = files.emplace(file, std::move(lines)).first;
  }
  if (line < 1 || static_cast<size_t>(line) > it->second.size()) return "";
  std::string s = it->second[static_cast<size_t>(line) - 1];
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

class Symbolizer {
 public:
  Symbolizer() {
    callbacks_.find_elf = dwfl_linux_proc_find_elf;
    callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    callbacks_.debuginfo_path = nullptr;
    dwfl_ = dwfl_begin(&callbacks_);
    if (dwfl_ != nullptr) {
      dwfl_linux_proc_report(dwfl_, getpid());
      dwfl_report_end(dwfl_, nullptr, nullptr);
    }
  }
  ~Symbolizer() {
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
  }

  /// The logical frames at one return address, innermost first.
  const std::vector<StackFrame>& frames_at(void* address) {
    auto it = cache_.find(address);
    if (it != cache_.end()) return it->second;
    return cache_.emplace(address, resolve(reinterpret_cast<Dwarf_Addr>(address) - 1)).first->second;
  }

 private:
  std::vector<StackFrame> resolve(Dwarf_Addr pc) {
    std::vector<StackFrame> out;
    if (dwfl_ == nullptr) return out;
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_, pc);
    if (mod == nullptr) return out;
    StackFrame inner;
    inner.function = short_name(dwfl_module_addrname(mod, pc));
    if (Dwfl_Line* l = dwfl_module_getsrc(mod, pc)) {
      int line = 0;
      if (const char* f = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr)) inner.file = f;
      inner.line = line;
    }
    // Inlined calls: each inlined-subroutine scope's call site is a frame further out.
    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die* scopes = nullptr;
    const int n = cu != nullptr ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    if (cu != nullptr) dwarf_getsrcfiles(cu, &files, &nfiles);
    StackFrame current = inner;
    for (int i = 0; i < n; ++i) {
      if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
      Dwarf_Attribute name_attr;
      if (dwarf_attr_integrate(&scopes[i], DW_AT_name, &name_attr) != nullptr)
        if (const char* name = dwarf_formstring(&name_attr)) current.function = name;
      out.push_back(current);
      // The caller's frame: the call site, in the next enclosing function scope.
      StackFrame caller;
      Dwarf_Attribute attr;
      Dwarf_Word file_idx = 0, line = 0;
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &file_idx) == 0 && files != nullptr)
        if (const char* f = dwarf_filesrc(files, file_idx, nullptr, nullptr)) caller.file = f;
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &line) == 0)
        caller.line = static_cast<int>(line);
      caller.function = inner.function;
      for (int j = i + 1; j < n; ++j) {
        const int tag = dwarf_tag(&scopes[j]);
        if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
          // Out-of-class definitions keep their name on the declaration.
          Dwarf_Attribute name_attr;
          if (dwarf_attr_integrate(&scopes[j], DW_AT_name, &name_attr) != nullptr)
            if (const char* name = dwarf_formstring(&name_attr)) caller.function = name;
          break;
        }
      }
      current = caller;
    }
    std::free(scopes);
    out.push_back(current);
    for (auto& f : out) f.code = f.file.empty() ? "" : source_line(f.file, f.line);
    return out;
  }

  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  std::unordered_map<void*, std::vector<StackFrame>> cache_;
};

std::mutex g_mutex;
}  // namespace

bool is_library_source(const std::string& file) {
  static const std::string root = AOTGRAD_SOURCE_DIR;
  auto under = [&](const char* dir) { return file.rfind(root + dir, 0) == 0; };
  if (under("/src/models/")) return false;  // the built-in models are user code
  return under("/src/") || under("/include/");
}

std::vector<StackFrame> user_frames(const std::vector<void*>& addresses, size_t max_frames) {
  std::lock_guard<std::mutex> lock(g_mutex);
  static Symbolizer* symbolizer = new Symbolizer();  // lives for the process
  std::vector<StackFrame> inner_first;
  for (void* a : addresses) {
    for (const StackFrame& f : symbolizer->frames_at(a)) {
      // Only files with absolute paths outside the system and the library count.
      if (f.file.empty() || f.file[0] != '/' || is_library_source(f.file) || f.file.rfind("/usr/", 0) == 0) continue;
      inner_first.push_back(f);
      if (inner_first.size() == max_frames) break;
    }
    if (inner_first.size() == max_frames) break;
  }
  return {inner_first.rbegin(), inner_first.rend()};
}

}  // namespace aotgrad::trace
